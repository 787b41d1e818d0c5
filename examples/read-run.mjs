// Reads a run directory with polars, from Node: the same calls as Python's polars.
//
//   node examples/read-run.mjs data/<run directory>
//
// scalars.arrows (every reading of the run) is an Arrow IPC *stream*: polars reads it with
// readIPCStream. A plan run (daq plan run) also has events-primary.arrows, one row per point of
// the scan, in the random-access *file* format: readIPC reads it. Both are given the file's
// bytes: nodejs-polars takes a string as a path only when it ends in .ipc (else as content).
//
// In Python the same is:
//   import polars as pl
//   df = pl.read_ipc_stream("data/<run directory>/scalars.arrows")
//   df.group_by("instrument", "subsystem", "channel", "unit").agg(pl.len().alias("rows"), pl.col("value").mean())
//   pl.read_ipc("data/<run directory>/events-primary.arrows")
//
// nodejs-polars is a development dependency of this repository (npm ci installs it).

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import pl from 'nodejs-polars';

const dir = process.argv[2];
if (!dir || process.argv.length > 3) {
  console.error('usage: node examples/read-run.mjs RUN_DIR');
  process.exit(2);
}

pl.Config.setTblRows(50); // print whole tables (a scan's points), not the first and last five
pl.Config.setTblHideColumnDataTypes(true);

const df = pl.readIPCStream(readFileSync(join(dir, 'scalars.arrows')));
console.log(`${join(dir, 'scalars.arrows')}: ${df.height} readings, columns ${df.columns.join(', ')}`);
const perChannel = df
  .groupBy(['instrument', 'subsystem', 'channel', 'unit'])
  .agg(pl.col('value').count().alias('rows'), pl.col('value').mean().alias('mean'))
  .sort(['instrument', 'channel']);
console.log(perChannel.toString());

const events = join(dir, 'events-primary.arrows');
if (existsSync(events)) {
  // One row per point: seq_num, time (epoch seconds), then one column per data key: each
  // motor's readback (e.g. rotator) and each detector channel (e.g. power_meter-power).
  const points = pl.readIPC(readFileSync(events));
  console.log(`${events}: ${points.height} points`);
  console.log(points.drop('time').toString());
}
