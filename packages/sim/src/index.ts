// @daq/sim: filled in by its issue; kept so the workspace builds.
export const PACKAGE = '@daq/sim';
