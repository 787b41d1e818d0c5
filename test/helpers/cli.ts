// A CliIo that keeps what a command writes, for tests that run `main` in-process.
import type { CliIo } from '@daq/broker';

export function captureIo(): CliIo & { stdout: string; stderr: string } {
  const io = {
    stdout: '',
    stderr: '',
    out: (s: string) => void (io.stdout += s),
    err: (s: string) => void (io.stderr += s),
  };
  return io;
}
