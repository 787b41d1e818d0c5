// A broker on the test's own thread: simulators for a config, the shared resources, and a
// BrokerApi reached through a real BrokerEndpoint over Comlink, so drivers and subsystem hosts
// can be driven without a worker thread and still cross the same RPC boundary.

import { parseConfig, type BrokerApi, type DaqConfig } from '@daq/core';
import { startSimulators, type SimulatorSet } from '@daq/sim';
import { BrokerEndpoint, SharedResources } from '@daq/broker';
import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';

export interface MainThreadBroker extends AsyncDisposable {
  config: DaqConfig;
  sims: SimulatorSet;
  resources: SharedResources;
  /** A BrokerApi bound to `identity` (one endpoint per identity, made on first use). */
  api(identity: 'v2' | 'v4'): BrokerApi;
  close(): Promise<void>;
}

/** With `simulate = true` the config's simulators are started; without, the paths must already exist. */
export async function mainThreadBroker(toml: string): Promise<MainThreadBroker> {
  const parsed = parseConfig(toml, 'test.toml').config;
  const sims = parsed.application.simulate
    ? await startSimulators(parsed)
    : ({ config: parsed, endpoints: [], serial: new Map(), scpi: new Map(), close: async () => {} } as unknown as SimulatorSet);
  let resources: SharedResources;
  try {
    resources = await SharedResources.create(sims.config);
  } catch (e) {
    await sims.close();
    throw e;
  }
  const endpoints = new Map<string, { endpoint: BrokerEndpoint; api: BrokerApi }>();
  let closed: Promise<void> | undefined;
  const close = () => (closed ??= closeOnce());
  const closeOnce = async () => {
    for (const { endpoint, api } of endpoints.values()) {
      (api as unknown as { [Comlink.releaseProxy](): void })[Comlink.releaseProxy]();
      endpoint.close();
      endpoint.workerPort.close();
    }
    await resources.close();
    await sims.close();
  };
  return {
    config: sims.config,
    sims,
    resources,
    api(identity) {
      let e = endpoints.get(identity);
      if (!e) {
        const endpoint = new BrokerEndpoint(resources, identity);
        e = { endpoint, api: Comlink.wrap<BrokerApi>(nodeEndpoint(endpoint.workerPort)) as unknown as BrokerApi };
        endpoints.set(identity, e);
      }
      return e.api;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
