// The machine a benchmark ran on, recorded beside every result.
import { cpus, totalmem, release, platform, arch, availableParallelism } from 'node:os';

export function describeMachine() {
  const cpu = cpus()[0];
  return {
    cpu: cpu?.model ?? 'unknown',
    cores: availableParallelism(),
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    os: `${platform()} ${release()} ${arch()}`,
    node: process.version,
  };
}
