// Builds the fake libpvcam (native/fake-pvcam.c) with the machine's gcc into a per-source cache
// directory, and drives its test switches (fake_pvcam_set/get/reset) through koffi.

import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import koffi from 'koffi';
import { DaqError } from '@daq/core';

/** The C source: ../native/ from both src/fake-pvcam.ts and dist/fake-pvcam.js. */
export const FAKE_PVCAM_SOURCE = fileURLToPath(new URL('../native/fake-pvcam.c', import.meta.url));

/**
 * Compiles the fake PVCAM library unless this exact source was already built; returns the absolute
 * path of `libpvcam.so.2` in `<tmpdir>/daq-fake-pvcam-<sha256 of the source, 12 hex>/`.
 * Safe when several processes or threads build at once: each compiles to its own temporary name
 * and renames it into place (an atomic replace of an identical file).
 */
export function buildFakePvcam(): string {
  const source = readFileSync(FAKE_PVCAM_SOURCE);
  const hash = createHash('sha256').update(source).digest('hex').slice(0, 12);
  const dir = join(tmpdir(), `daq-fake-pvcam-${hash}`);
  const out = join(dir, 'libpvcam.so.2');
  if (existsSync(out)) return out;
  mkdirSync(dir, { recursive: true });
  const tmp = join(dir, `.libpvcam.so.2.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    execFileSync('gcc', ['-O2', '-shared', '-fPIC', '-pthread', '-Wall', '-o', tmp, FAKE_PVCAM_SOURCE], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (e) {
    rmSync(tmp, { force: true });
    const err = e as NodeJS.ErrnoException & { stderr?: Buffer };
    if (err.code === 'ENOENT') {
      throw new DaqError(
        'DAQ_CAMERA',
        `gcc is not installed: the fake PVCAM library (${FAKE_PVCAM_SOURCE}) is compiled with it; install gcc (apt-get install gcc)`,
        { source: FAKE_PVCAM_SOURCE, compiler: 'gcc' },
        { cause: e },
      );
    }
    throw new DaqError(
      'DAQ_CAMERA',
      `gcc could not build the fake PVCAM library from ${FAKE_PVCAM_SOURCE}:\n${err.stderr?.toString() || err.message}`,
      { source: FAKE_PVCAM_SOURCE, compiler: 'gcc' },
      { cause: e },
    );
  }
  renameSync(tmp, out);
  return out;
}

/** Settings fake_pvcam_set accepts (also readable with get). */
export type FakePvcamSetting =
  | 'cameras'
  | 'width'
  | 'height'
  | 'bit_depth'
  | 'fps'
  | 'pattern'
  | 'lose_every'
  | 'late_every'
  | 'late_ms'
  | 'fail_open'
  | 'fail_setup'
  | 'fail_start'
  | 'readout_fail_after'
  | 'readout_fail_code'
  | 'exp_res_modes'
  | 'modern_triggers'
  | 'metadata_bytes'
  | 'sensor_cpu'
  | 'sensor_rt';

/** Counters, state and layout facts fake_pvcam_get reports besides the settings. */
export type FakePvcamReading =
  | FakePvcamSetting
  | 'frames_generated'
  | 'frames_lost'
  | 'frames_lost_sensor'
  | 'frames_overwritten'
  | 'initialized'
  | 'open_cameras'
  | 'acquiring'
  | 'threads_alive'
  | 'sensor_rt_ok'
  | 'frame_info_structs'
  | 'last_exp_res'
  | 'last_exposure'
  | 'last_exp_mode'
  | 'last_buffer_mode'
  | 'sizeof_frame_info'
  | 'offsetof_frame_nr';

export interface FakePvcamControl {
  /** Sets a switch; it also stops the FAKE_PVCAM_* environment variable from applying to it. */
  set(key: FakePvcamSetting, value: number): void;
  get(key: FakePvcamReading): number;
  /** Stops every acquisition, closes every camera, uninitialises, restores every default. */
  reset(): void;
  /** When frame `frameNr` (one of the last 65536) was complete, in ms on the clock of process.hrtime. */
  frameEofMs(frameNr: number): number;
}

/**
 * The fake's test switches. koffi.load of the same path returns the handle the process already
 * has (dlopen), so these act on the very library a driver in this process (any thread) uses.
 */
export function fakePvcamControl(libraryPath: string): FakePvcamControl {
  const lib = koffi.load(libraryPath);
  const set = lib.func('int fake_pvcam_set(const char *key, double value)');
  const get = lib.func('double fake_pvcam_get(const char *key)');
  const reset = lib.func('void fake_pvcam_reset(void)');
  const eof = lib.func('double fake_pvcam_frame_eof_ms(uint32_t nr)');
  return {
    frameEofMs: (frameNr) => eof(frameNr) as number,
    set(key, value) {
      if ((set(key, value) as number) !== 0) throw new Error(`fake PVCAM has no switch "${key}"`);
    },
    get(key) {
      const value = get(key) as number;
      if (Number.isNaN(value)) throw new Error(`fake PVCAM has no reading "${key}"`);
      return value;
    },
    reset: () => void reset(),
  };
}
