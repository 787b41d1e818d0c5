// A stress worker: several concurrent clients hammer the broker through this thread's endpoint
// (serial lease + query + release, queued VISA queries) until a deadline, counting every
// outcome; or, as a "trouble" worker, takes a lease (and queues a VISA command) and dies
// without releasing. Started by stress.ts.
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import type { BrokerApi, SerializedDaqError } from '@daq/core';

// The receiving half of core's installErrorTransfer (a DaqError arrives as { daq: {...} }),
// without importing @daq/core: loading it (and apache-arrow) in every one of a dozen threads
// through a TypeScript loader took over a minute on 2 cores. Only `code` and `facts` matter here.
const original = Comlink.transferHandlers.get('throw')!;
Comlink.transferHandlers.set('throw', {
  canHandle: (v): v is unknown => original.canHandle(v),
  serialize: (v) => original.serialize(v),
  deserialize: (s) => {
    const daq = (s as { daq?: SerializedDaqError }).daq;
    if (daq) throw Object.assign(new Error(daq.message), { name: daq.name, code: daq.code, facts: daq.facts });
    return original.deserialize(s);
  },
});

export interface StressPorts {
  /** The Elliptec bus (two addresses) and the Newport 1830-C. */
  bus: string;
  newport: string;
  resource: string;
  busAddresses: [string, string];
  idn: string;
}

export interface ClientSpec {
  name: string;
  kind: 'serial' | 'visa';
  /** Every `troubleEvery`-th operation is a trouble operation (0: never). */
  troubleEvery: number;
}

export interface RegularJob {
  mode: 'clients';
  ports: StressPorts;
  clients: ClientSpec[];
  /** Date.now() after which no new operation starts (set by the "go" message). */
  deadline: number;
  leaseTimeoutMs: number;
  queryTimeoutMs: number;
  visaTimeoutMs: number;
}

export interface TroubleJob {
  mode: 'trouble';
  ports: StressPorts;
  /** hold: lease, queue a VISA query, die when told; wait: die while queued for a lease. */
  kind: 'hold' | 'wait';
  port: string;
}

export type StressJob = RegularJob | TroubleJob;

export type PortKey = 'bus' | 'newport';

export interface ClientReport {
  worker: string;
  name: string;
  kind: 'serial' | 'visa';
  issued: number;
  answered: number;
  failed: number;
  failedByCode: Record<string, number>;
  /** One message per failure code. */
  samples: Record<string, string>;
  /** Failure codes of regular (non-trouble) operations: should stay empty. */
  unexpected: Record<string, number>;
  troubleOps: number;
  grants: Record<PortKey, number>;
  writes: Record<PortKey, number>;
  bytesOut: Record<PortKey, number>;
  /** Failures per port and code (lease timeouts, read timeouts, revocations). */
  portFailures: Record<PortKey, Record<string, number>>;
  /** Lease waits as seen by the client (request to grant, RPC included), ms. */
  waitsMs: Record<PortKey, number[]>;
  visaIssued: number;
  visaAnswered: number;
  visaTimeouts: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const codeOf = (e: unknown) => (e as { code?: string })?.code ?? (e as Error)?.name ?? 'UNKNOWN';

class WrongReply extends Error {
  code = 'WRONG_REPLY';
}

function newReport(worker: string, spec: ClientSpec): ClientReport {
  return {
    worker,
    name: spec.name,
    kind: spec.kind,
    issued: 0,
    answered: 0,
    failed: 0,
    failedByCode: {},
    samples: {},
    unexpected: {},
    troubleOps: 0,
    grants: { bus: 0, newport: 0 },
    writes: { bus: 0, newport: 0 },
    bytesOut: { bus: 0, newport: 0 },
    portFailures: { bus: {}, newport: {} },
    waitsMs: { bus: [], newport: [] },
    visaIssued: 0,
    visaAnswered: 0,
    visaTimeouts: 0,
  };
}

const ELL_REPLY = (addr: string) => new RegExp(`^${addr}PO[0-9A-F]{8}$`);
const NEWPORT_REPLY = /^[+-]\.\d{4}E[+-]\d+$/;
const SCPI_NUMBER = /^[+-]?\d+(\.\d+)?([eE][+-]?\d+)?$/;

async function runClient(broker: Comlink.Remote<BrokerApi>, identity: string, job: RegularJob, spec: ClientSpec) {
  const r = newReport(identity, spec);
  const { ports } = job;
  const path = (k: PortKey) => (k === 'bus' ? ports.bus : ports.newport);
  const note = (e: unknown, trouble: boolean, port?: PortKey) => {
    const code = codeOf(e);
    r.failed++;
    r.failedByCode[code] = (r.failedByCode[code] ?? 0) + 1;
    r.samples[code] ??= String((e as Error)?.message ?? e);
    if (!trouble) r.unexpected[code] = (r.unexpected[code] ?? 0) + 1;
    if (port) r.portFailures[port][code] = (r.portFailures[port][code] ?? 0) + 1;
  };

  const lease = async (k: PortKey, request: { timeoutMs?: number; maxHoldMs?: number; tryOnly?: boolean }) => {
    const t0 = performance.now();
    const handle = request.tryOnly
      ? await broker.tryLeaseSerial(path(k), spec.name, { maxHoldMs: request.maxHoldMs })
      : await broker.leaseSerial(path(k), spec.name, { timeoutMs: request.timeoutMs, maxHoldMs: request.maxHoldMs });
    r.grants[k]++;
    r.waitsMs[k].push(performance.now() - t0);
    return handle;
  };
  const query = async (k: PortKey, handle: number, command: string, terminator: string, timeoutMs: number) => {
    // Write, then read, as two calls: a lease revoked between them has written, and the count
    // must say so (one serialQuery call could not tell a revoke before the write from one after).
    await broker.serialWrite(handle, command);
    r.writes[k]++;
    r.bytesOut[k] += command.length;
    return broker.serialReadLine(handle, terminator, timeoutMs);
  };

  // One serial operation: lease, query, release. Trouble variants fail on purpose.
  const serialOp = async (i: number, trouble: boolean) => {
    const cycle = i % 3;
    const k: PortKey = cycle === 2 ? 'newport' : 'bus';
    const addr = ports.busAddresses[cycle === 1 ? 1 : 0];
    const command = k === 'bus' ? `${addr}gp` : 'D?\n';
    const terminator = k === 'bus' ? '\r\n' : '\n';
    const check = (reply: string) => {
      const ok = k === 'bus' ? ELL_REPLY(addr).test(reply) : NEWPORT_REPLY.test(reply);
      if (!ok) throw new WrongReply(`${spec.name}: ${JSON.stringify(command)} got ${JSON.stringify(reply)} on ${path(k)}`);
    };
    const variant = trouble ? Math.floor(i / Math.max(1, spec.troubleEvery)) % 5 : -1;
    let handle: number | undefined;
    r.issued++;
    let portOfFailure: PortKey | undefined = k;
    try {
      if (variant === 0) {
        // A very short lease timeout: usually DAQ_LEASE_TIMEOUT on a contended port.
        handle = await lease(k, { timeoutMs: 1 });
        check(await query(k, handle, command, terminator, job.queryTimeoutMs));
      } else if (variant === 1) {
        // A query timeout below the reply's own byte time: DAQ_READ_TIMEOUT. The late reply
        // ("0633", the wavelength) must never reach the next holder, whose D? check would see it.
        handle = await lease('newport', { timeoutMs: job.leaseTimeoutMs });
        portOfFailure = 'newport';
        const reply = await query('newport', handle, 'W?\n', '\n', 2);
        if (!/^\d{4}$/.test(reply)) throw new WrongReply(`${spec.name}: "W?" got ${JSON.stringify(reply)}`);
      } else if (variant === 2) {
        // Held past maxHoldMs: revoked, the next operation fails with DAQ_LEASE_REVOKED.
        handle = await lease(k, { timeoutMs: job.leaseTimeoutMs, maxHoldMs: 20 });
        await sleep(80);
        check(await query(k, handle, command, terminator, job.queryTimeoutMs));
      } else if (variant === 3) {
        // Does not wait: DAQ_PORT_BUSY unless the port happens to be free.
        handle = await lease(k, { tryOnly: true });
        check(await query(k, handle, command, terminator, job.queryTimeoutMs));
      } else if (variant === 4) {
        // Releases twice: the second release is refused (the handle is no longer ours).
        handle = await lease(k, { timeoutMs: job.leaseTimeoutMs });
        check(await query(k, handle, command, terminator, job.queryTimeoutMs));
        const h = handle;
        handle = undefined;
        await broker.releaseSerial(h);
        portOfFailure = undefined;
        await broker.releaseSerial(h);
      } else {
        handle = await lease(k, { timeoutMs: job.leaseTimeoutMs });
        check(await query(k, handle, command, terminator, job.queryTimeoutMs));
      }
      r.answered++;
    } catch (e) {
      note(e, trouble, portOfFailure);
    } finally {
      if (handle !== undefined) {
        try {
          await broker.releaseSerial(handle);
        } catch (e) {
          // A release that fails leaves a lease behind: count it, it fails the run.
          r.unexpected[`release:${codeOf(e)}`] = (r.unexpected[`release:${codeOf(e)}`] ?? 0) + 1;
        }
      }
    }
  };

  const visaOp = async (i: number, trouble: boolean) => {
    const idn = i % 2 === 0;
    const command = idn ? '*IDN?' : 'MEAS:VOLT:DC?';
    r.issued++;
    r.visaIssued++;
    try {
      // Trouble: 1 ms, usually a DAQ_VISA_TIMEOUT (and a session clear before the next command).
      const reply = await broker.visaQuery(ports.resource, spec.name, command, trouble ? 1 : job.visaTimeoutMs);
      const ok = idn ? reply === ports.idn : SCPI_NUMBER.test(reply.trim());
      if (!ok) throw new WrongReply(`${spec.name}: ${command} got ${JSON.stringify(reply)}`);
      r.answered++;
      r.visaAnswered++;
    } catch (e) {
      if (codeOf(e) === 'DAQ_VISA_TIMEOUT') r.visaTimeouts++;
      note(e, trouble);
    }
  };

  for (let i = 0; Date.now() < job.deadline; i++) {
    const trouble = spec.troubleEvery > 0 && i % spec.troubleEvery === spec.troubleEvery - 1;
    if (trouble) r.troubleOps++;
    if (spec.kind === 'serial') await serialOp(i, trouble);
    else await visaOp(i, trouble);
  }
  return r;
}

async function runRegular(broker: Comlink.Remote<BrokerApi>, identity: string, job: RegularJob): Promise<ClientReport[]> {
  return Promise.all(job.clients.map((spec) => runClient(broker, identity, job, spec)));
}

async function runTrouble(broker: Comlink.Remote<BrokerApi>, job: TroubleJob): Promise<void> {
  if (job.kind === 'wait') {
    // Queue for the port and tell the broker thread; it ends this thread while we wait (or just after the grant).
    const p = broker.leaseSerial(job.port, 'abandoner', { timeoutMs: 30_000 });
    p.catch(() => undefined);
    parentPort!.postMessage({ type: 'waiting' });
    await new Promise(() => {});
  }
  await broker.leaseSerial(job.port, 'abandoner', { timeoutMs: 30_000 });
  // Queue a VISA command too; the broker thread ends this thread once it sees it queued or run.
  broker.visaQuery(job.ports.resource, 'abandoner', '*IDN?', 5000).catch(() => undefined);
  parentPort!.postMessage({ type: 'holding' });
  await new Promise(() => {});
}

const job = workerData as StressJob & { identity: string };

// Messages from the broker thread: the endpoint, then "go" (start; carries the deadline), then
// "die" (trouble workers) or "end" (regular workers, once the broker's state was checked).
let broker: Comlink.Remote<BrokerApi> | undefined;
let brokerPort: MessagePort | undefined;
const onMessage = (m: { type?: string; port?: MessagePort; deadline?: number; how?: string }) => {
  if (m?.type === 'daq:broker' && m.port) {
    brokerPort = m.port;
    broker = Comlink.wrap<BrokerApi>(nodeEndpoint(m.port));
    parentPort!.postMessage({ type: 'ready' });
  } else if (m?.type === 'go' && broker) {
    if (job.mode === 'trouble') void runTrouble(broker, job);
    else {
      const b = broker;
      void runRegular(b, job.identity, { ...job, deadline: m.deadline! }).then((reports) =>
        parentPort!.postMessage({ type: 'report', reports }),
      );
    }
  } else if (m?.type === 'die') {
    if (m.how === 'throw') throw new Error('stress: a client crashed while holding a lease');
    process.exit(3);
  } else if (m?.type === 'end') {
    // End by emptying the event loop: nothing may keep this thread alive.
    broker?.[Comlink.releaseProxy]();
    brokerPort?.close();
    parentPort!.off('message', onMessage);
  }
};
parentPort!.on('message', onMessage);
