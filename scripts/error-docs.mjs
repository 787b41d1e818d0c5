// Writes docs/errors.md from the error catalogue (packages/core/src/error-catalogue.ts), after
// `npm run build`. Run by `npm run schema`; packages/core/test/error-catalogue.test.ts fails
// while the page is stale.
import { writeFile } from 'node:fs/promises';
import { errorCatalogueMarkdown } from '@daq/core';

await writeFile(new URL('../docs/errors.md', import.meta.url), errorCatalogueMarkdown());
console.error('wrote docs/errors.md');
