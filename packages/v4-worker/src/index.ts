// @daq/v4-worker: filled in by its issue; kept so the workspace builds.
export const PACKAGE = '@daq/v4-worker';
