// @daq/v2-worker: filled in by its issue; kept so the workspace builds.
export const PACKAGE = '@daq/v2-worker';
