// Runs one subsystem's instruments inside its worker (or on the main thread in tests):
// initialises them, polls each at its poll_hz, routes commands to them one at a time, and
// shuts them down in order. V2 and V4 differ only in their drivers and their ReadingSink.

import { Clock } from '../clock.js';
import { DaqError } from '../errors.js';
import { didYouMean } from '../did-you-mean.js';
import type { InstrumentConfig } from '../config/types.js';
import type { BrokerApi } from '../rpc.js';
import { invokeCommand } from './command-table.js';
import type { HostedInstrument, ReadingSink } from './instrument.js';
import { SerialQueue } from './serial-queue.js';
import type {
  InstrumentStatus,
  ShutdownReport,
  SubsystemApi,
  SubsystemInit,
  SubsystemState,
  SubsystemStatus,
} from './subsystem-api.js';

/** How far behind its schedule (in periods) an instrument's polling may catch up; beyond, it skips ahead. */
const CATCH_UP_PERIODS = 3;

/** Polls in a row that must fail before an instrument shows as `failing`. */
const FAILING_AFTER = 3;

export interface DriverContext {
  broker: BrokerApi;
  clock: Clock;
  leaseTimeoutMs: number;
}

export type InstrumentFactory = (config: InstrumentConfig, context: DriverContext) => HostedInstrument;

class Slot {
  readonly queue = new SerialQueue();
  readonly status: InstrumentStatus;
  consecutiveErrors = 0;
  timer: NodeJS.Timeout | undefined;
  polling = false;
  /** The poll in progress, awaited by stopPolling. */
  current: Promise<void> = Promise.resolve();
  /** performance.now() when polling (re)started; undefined while not polling. */
  pollingSince: number | undefined;
  /** Milliseconds polled before the current stretch. */
  polledMs = 0;
  /** performance.now() at the start of the first and of the latest poll. */
  firstPollAt: number | undefined;
  lastPollAt = 0;

  constructor(readonly instrument: HostedInstrument) {
    this.status = {
      id: instrument.id,
      type: instrument.type,
      state: 'created',
      pollHz: instrument.pollHz,
      polls: 0,
      pollErrors: 0,
      overruns: 0,
      pollingS: 0,
      missedPolls: 0,
      achievedHz: 0,
      readings: 0,
      commands: 0,
      commandErrors: 0,
      queue: 0,
      accepts: [...new Set([...Object.keys(instrument.commands), 'read'])],
      channels: [],
    };
  }
}

/** See InstrumentStatus.achievedHz. */
function achievedHz(s: Slot, pollingS: number): number {
  if (s.firstPollAt === undefined || s.status.polls < 2) return 0;
  const span = Math.max((s.lastPollAt - s.firstPollAt) / 1000, pollingS - 1 / s.instrument.pollHz);
  return span > 0 ? (s.status.polls - 1) / span : 0;
}

function errorInfo(e: unknown): { code: string; message: string } {
  if (e instanceof DaqError) return { code: e.code, message: e.message };
  return { code: 'DAQ_INSTRUMENT', message: e instanceof Error ? e.message : String(e) };
}

export class SubsystemHost implements SubsystemApi {
  private state: SubsystemState = 'created';
  private slots = new Map<string, Slot>();
  private clock = new Clock();
  private sink: ReadingSink | undefined;
  private commandsInFlight = new Set<Promise<unknown>>();

  constructor(
    readonly name: string,
    private readonly broker: BrokerApi,
    private readonly createInstrument: InstrumentFactory,
    private readonly createSink: (init: SubsystemInit, clock: Clock) => ReadingSink,
  ) {}

  async init(init: SubsystemInit): Promise<InstrumentStatus[]> {
    if (this.state !== 'created')
      throw new DaqError('DAQ_INVALID_ARGUMENT', `${this.name} is already initialised (state ${this.state})`);
    this.state = 'initialising';
    this.clock = new Clock(init.epochOffsetNs);
    this.sink = this.createSink(init, this.clock);
    const context: DriverContext = { broker: this.broker, clock: this.clock, leaseTimeoutMs: init.leaseTimeoutMs };
    for (const config of init.instruments) this.slots.set(config.id, new Slot(this.createInstrument(config, context)));
    // Instruments initialise concurrently; those sharing a port take turns through its lease.
    await Promise.all(
      [...this.slots.values()].map(async (slot) => {
        slot.status.state = 'initialising';
        try {
          slot.status.identity = await slot.queue.run(() => slot.instrument.initialize());
          slot.status.channels = slot.instrument.channels();
          slot.status.state = 'ready';
        } catch (e) {
          slot.status.state = 'failed';
          slot.status.error = errorInfo(e);
        }
      }),
    );
    this.state = 'ready';
    return this.instrumentStatuses();
  }

  async startPolling(): Promise<void> {
    if (this.state !== 'ready')
      throw new DaqError('DAQ_INVALID_ARGUMENT', `${this.name} cannot start polling in state ${this.state}`);
    this.state = 'running';
    // One origin for every instrument's schedule: instruments at the same rate (or multiples)
    // come due together, so their polls fire in one turn and cross to the broker in one message.
    const origin = performance.now();
    for (const slot of this.slots.values()) {
      if (slot.status.state !== 'ready' || slot.instrument.pollHz <= 0) continue;
      slot.status.state = 'polling';
      slot.polling = true;
      slot.pollingSince = origin;
      this.schedule(slot, slot.pollingSince);
    }
  }

  private schedule(slot: Slot, due: number): void {
    const period = 1000 / slot.instrument.pollHz;
    slot.timer = setTimeout(
      () => {
        slot.timer = undefined;
        const started = performance.now();
        slot.firstPollAt ??= started;
        slot.lastPollAt = started;
        slot.current = this.pollOnce(slot).then(() => {
          if (!slot.polling) return;
          let next = due + period;
          const now = performance.now();
          if (now > next) {
            // Late: counted. A short hiccup (a GC pause, a slow reply) is caught up, the next
            // polls starting at once until the schedule is kept again, so the rate asked is
            // kept; behind by more than CATCH_UP_PERIODS, the schedule skips ahead instead of
            // bursting (the polls it skips are what InstrumentStatus.missedPolls counts).
            slot.status.overruns++;
            if (now - next > CATCH_UP_PERIODS * period) next = Math.max(now, started + period);
          }
          this.schedule(slot, next);
        });
      },
      Math.max(0, due - performance.now()),
    );
  }

  private async pollOnce(slot: Slot): Promise<void> {
    const s = slot.status;
    try {
      const readings = await slot.queue.run(() => slot.instrument.read());
      s.polls++;
      s.readings += readings.length;
      this.sink!.accept(slot.instrument.id, readings, this.clock.nowNs());
      slot.consecutiveErrors = 0;
      if (s.state === 'failing') s.state = 'polling';
    } catch (e) {
      s.polls++;
      s.pollErrors++;
      s.error = errorInfo(e);
      if (++slot.consecutiveErrors >= FAILING_AFTER && s.state === 'polling') s.state = 'failing';
    }
  }

  async stopPolling(): Promise<void> {
    const slots = [...this.slots.values()];
    for (const slot of slots) {
      slot.polling = false;
      clearTimeout(slot.timer);
      slot.timer = undefined;
      if (slot.pollingSince !== undefined) slot.polledMs += performance.now() - slot.pollingSince;
      slot.pollingSince = undefined;
    }
    await Promise.all(slots.map((s) => s.current));
    for (const slot of slots) if (slot.status.state === 'polling' || slot.status.state === 'failing') slot.status.state = 'ready';
    this.sink?.flush();
    if (this.state === 'running') this.state = 'ready';
  }

  private slot(id: unknown): Slot {
    const slot = typeof id === 'string' ? this.slots.get(id) : undefined;
    if (slot) return slot;
    const known = [...this.slots.keys()];
    throw new DaqError(
      'DAQ_UNKNOWN_INSTRUMENT',
      `${this.name} has no instrument ${JSON.stringify(id)}${typeof id === 'string' ? didYouMean(id, known) : ''}; it runs: ${known.join(', ') || 'none'}`,
      { instrument: String(id) },
    );
  }

  async command(instrument: string, method: string, args: unknown[]): Promise<unknown> {
    const slot = this.slot(instrument);
    if (this.state === 'stopping' || this.state === 'stopped')
      throw new DaqError('DAQ_CLOSED', `${this.name} is shutting down; ${instrument}.${method} was not run`, { instrument });
    if (slot.status.state === 'failed')
      throw new DaqError(
        'DAQ_INSTRUMENT',
        `${instrument} failed to initialise (${slot.status.error?.message}); ${method} was not run`,
        { instrument },
      );
    slot.status.commands++;
    // `read` (unless a driver defines its own): the readings of one poll, on demand, in the
    // instrument's queue like any command. Plans read detectors this way.
    const run =
      method === 'read' && !Object.hasOwn(slot.instrument.commands, 'read')
        ? slot.queue.run(() => slot.instrument.read())
        : slot.queue.run(() => invokeCommand(instrument, slot.instrument.commands, method, args));
    this.commandsInFlight.add(run);
    try {
      return await run;
    } catch (e) {
      slot.status.commandErrors++;
      slot.status.error = errorInfo(e);
      throw e;
    } finally {
      this.commandsInFlight.delete(run);
    }
  }

  private instrumentStatuses(): InstrumentStatus[] {
    return [...this.slots.values()].map((s) => {
      const corrections = Object.entries(s.instrument.corrections?.() ?? {}).filter(([, n]) => n > 0);
      const pollingS = (s.polledMs + (s.pollingSince === undefined ? 0 : performance.now() - s.pollingSince)) / 1000;
      return {
        ...s.status,
        pollingS,
        missedPolls: Math.max(0, Math.floor(pollingS * s.instrument.pollHz) - s.status.polls),
        achievedHz: achievedHz(s, pollingS),
        queue: s.queue.pending,
        ...(corrections.length ? { corrections: Object.fromEntries(corrections) } : {}),
      };
    });
  }

  async status(): Promise<SubsystemStatus> {
    return {
      name: this.name,
      state: this.state,
      instruments: this.instrumentStatuses(),
      output: this.sink?.counts() ?? { accepted: 0, delivered: 0, batches: 0, dropped: 0, droppedBatches: 0 },
    };
  }

  async shutdown(): Promise<ShutdownReport> {
    // Refuse new commands first; those already queued finish below.
    this.state = 'stopping';
    await this.stopPolling();
    const pending = [...this.commandsInFlight];
    const settled = await Promise.allSettled(pending);
    const instruments: ShutdownReport['instruments'] = [];
    for (const slot of this.slots.values()) {
      if (slot.status.state === 'failed' || slot.status.state === 'created') {
        instruments.push({ id: slot.instrument.id, ok: true });
        continue;
      }
      try {
        await slot.queue.run(() => slot.instrument.shutdown());
        instruments.push({ id: slot.instrument.id, ok: true });
      } catch (e) {
        instruments.push({ id: slot.instrument.id, ok: false, error: errorInfo(e).message });
      }
      slot.status.state = 'stopped';
    }
    this.sink?.flush();
    this.state = 'stopped';
    return {
      instruments,
      commandsFinished: settled.filter((r) => r.status === 'fulfilled').length,
      commandsFailed: settled.filter((r) => r.status === 'rejected').length,
      output: this.sink?.counts() ?? { accepted: 0, delivered: 0, batches: 0, dropped: 0, droppedBatches: 0 },
    };
  }

  async ping(): Promise<bigint> {
    return process.hrtime.bigint();
  }
}
