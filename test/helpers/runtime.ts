// Starts simulators, shared resources and a DualRuntimeManager for a config, collecting every
// data batch the workers send; close() stops everything in order (killing workers if needed).

import { tableFromIPC } from 'apache-arrow';
import { parseConfig, type DaqConfig, type Measurement } from '@daq/core';
import { startSimulators, type SimulatorSet } from '@daq/sim';
import { DualRuntimeManager, SharedResources, type DualRuntimeOptions } from '@daq/broker';

export interface ArrowRow {
  timestamp: bigint;
  instrument: string;
  channel: string;
  value: number;
  unit: string;
}

export interface TestRuntime extends AsyncDisposable {
  config: DaqConfig;
  sims: SimulatorSet;
  resources: SharedResources;
  runtime: DualRuntimeManager;
  v2: Measurement[];
  v4: ArrowRow[];
  close(): Promise<void>;
}

/** Rows of one V4 scalar batch, with the raw int64 nanosecond timestamps. */
export function arrowRows(bytes: Uint8Array): ArrowRow[] {
  const table = tableFromIPC(bytes);
  const ts = table.getChild('timestamp')!.data.flatMap((d) => [...(d.values as BigInt64Array)]);
  const col = (name: string) => table.getChild(name)!;
  const [instrument, channel, value, unit] = ['instrument', 'channel', 'value', 'unit'].map(col);
  return ts.map((timestamp, i) => ({
    timestamp,
    instrument: instrument!.get(i) as string,
    channel: channel!.get(i) as string,
    value: value!.get(i) as number,
    unit: unit!.get(i) as string,
  }));
}

export async function testRuntime(toml: string, options: DualRuntimeOptions = {}): Promise<TestRuntime> {
  const parsed = parseConfig(toml, 'test.toml').config;
  const sims = await startSimulators(parsed);
  const resources = await SharedResources.create(sims.config).catch(async (e) => {
    await sims.close();
    throw e;
  });
  const runtime = new DualRuntimeManager(sims.config, resources, options);
  const v2: Measurement[] = [];
  const v4: ArrowRow[] = [];
  runtime.on('measurements', (m) => v2.push(...m.items));
  runtime.on('arrow', (m) => v4.push(...arrowRows(m.bytes)));
  let closed: Promise<void> | undefined;
  const close = () =>
    (closed ??= (async () => {
      await runtime.stop().catch(() => runtime.kill());
      await runtime.kill();
      await resources.close();
      await sims.close();
    })());
  return { config: sims.config, sims, resources, runtime, v2, v4, close, [Symbol.asyncDispose]: close };
}

/** Polls `check` until it returns true or `ms` pass. */
export async function until(check: () => boolean | Promise<boolean>, ms = 10_000, what = 'condition'): Promise<void> {
  const end = performance.now() + ms;
  while (!(await check())) {
    if (performance.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
