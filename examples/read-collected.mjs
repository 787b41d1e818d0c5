// Every collected run's scalars in one table, with polars from Node: the lab-wide query that
// `daq collect` makes possible (docs/publishing.md).
//
//   node examples/read-collected.mjs collected
//
// daq collect writes each run to <dir>/<lab>/<host>/<run>/ exactly as its host wrote it; each
// scalars.arrows is an Arrow IPC stream. This reads them all, adds lab, host and run columns
// from the path, and counts the readings and averages the values per host and instrument.
//
// In Python the same is (polars; or DuckDB over the same files through pyarrow):
//   import glob, polars as pl
//   df = pl.concat([pl.read_ipc_stream(p).with_columns(host=pl.lit(p.split("/")[-3]), run=pl.lit(p.split("/")[-2]))
//                   for p in glob.glob("collected/*/*/*/scalars.arrows")], how="vertical_relaxed")
//   df.group_by("host", "instrument").agg(pl.len().alias("rows"), pl.col("value").mean())
//
//   import duckdb, pyarrow as pa, pyarrow.ipc as ipc
//   tables = []
//   for p in glob.glob("collected/*/*/*/scalars.arrows"):
//       t = ipc.open_stream(p).read_all()
//       tables.append(t.append_column("host", pa.array([p.split("/")[-3]] * t.num_rows)))
//   scalars = pa.concat_tables(tables)
//   duckdb.sql("SELECT host, instrument, count(*) AS rows, avg(value) FROM scalars GROUP BY ALL ORDER BY ALL")

import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import pl from 'nodejs-polars';

const root = process.argv[2];
if (!root || process.argv.length > 3) {
  console.error('usage: node examples/read-collected.mjs COLLECTED_DIR');
  process.exit(2);
}

pl.Config.setTblRows(50);
pl.Config.setTblHideColumnDataTypes(true);

const dirs = (d) =>
  existsSync(d)
    ? readdirSync(d, { withFileTypes: true })
        .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
        .map((e) => e.name)
    : [];
const frames = [];
for (const lab of dirs(root))
  for (const host of dirs(join(root, lab)))
    for (const run of dirs(join(root, lab, host))) {
      const file = join(root, lab, host, run, 'scalars.arrows');
      if (!existsSync(file)) continue;
      const df = pl.readIPCStream(readFileSync(file));
      frames.push(df.withColumns(pl.lit(lab).alias('lab'), pl.lit(host).alias('host'), pl.lit(run).alias('run')));
    }
if (frames.length === 0) {
  console.error(`no runs with scalars.arrows under ${root}/<lab>/<host>/<run>/`);
  process.exit(1);
}
// The dictionary columns (instrument, channel, …) become plain strings so that runs with
// different dictionaries stack into one table.
const all = pl.concat(frames.map((f) => f.withColumns(pl.col(['subsystem', 'instrument', 'channel', 'unit']).cast(pl.Utf8))));
console.log(`${frames.length} runs, ${all.height} readings`);
console.log(
  all
    .groupBy(['host', 'instrument'])
    .agg(pl.col('run').nUnique().alias('runs'), pl.col('value').count().alias('rows'), pl.col('value').mean().alias('mean'))
    .sort(['host', 'instrument'])
    .toString(),
);
