#!/usr/bin/env node
// The `daq` command. A thin launcher so the bin exists before the first build and says so.
import('../dist/cli.js').then(
  async ({ main }) => {
    process.exitCode = await main(process.argv.slice(2));
  },
  (err) => {
    if (err && err.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes('dist/cli.js')) {
      process.stderr.write('daq: not built yet; run `npm run build` at the repository root\n');
    } else {
      process.stderr.write(`daq: ${err && err.stack ? err.stack : err}\n`);
    }
    process.exitCode = 1;
  },
);
