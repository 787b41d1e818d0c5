// `daq schema [--out FILE] [--markdown]`: the configuration's JSON Schema, for editors, or
// its Markdown reference, for people.

import { configReferenceMarkdown, schemaFileText } from '@daq/core';
import { writeFile } from 'node:fs/promises';
import type { CliIo } from '../cli-io.js';

export async function schemaCommand(out: string | undefined, markdown: boolean, io: CliIo): Promise<number> {
  const text = markdown ? configReferenceMarkdown() : schemaFileText();
  if (out === undefined) {
    io.out(text);
  } else {
    await writeFile(out, text);
    io.err(`wrote ${out}\n`);
  }
  return 0;
}
