// @daq/plans: experiments. Built-in plans (count, scan, rel_scan, list_scan, grid_scan,
// time_series) as data, TOML plan files, the RunEngine that runs them through the runtime's
// command routing with pause/resume/stop/abort and suspenders, and their Bluesky event-model
// documents (documents.jsonl and one Arrow table per stream in the run directory).
export * from './plans.js';
export * from './devices.js';
export * from './engine.js';
export * from './documents.js';
export { documentErrors } from './document-schemas.js';
export * from './run-output.js';
export * from './plan-file.js';
