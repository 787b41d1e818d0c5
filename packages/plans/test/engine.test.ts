// The RunEngine against an in-memory bench (one class under test; the end-to-end proof on
// simulators is test/plans.test.ts): a V2 rotator, a V4 meter behind a polarizer, a V4
// two-axis stage with ±10 limits and a laser shutter. Every document of every run is checked
// against the event-model schemas.

import t, { type Test } from 'tap';
import { DaqError, type Reading } from '@daq/core';
import {
  RunEngine,
  count,
  documentErrors,
  gridScan,
  listScan,
  relScan,
  scan,
  timeSeries,
  type Document,
  type PlanTarget,
} from '../src/index.js';
import { benchConfig } from './helpers/bench-config.js';

const config = benchConfig;

const AXIS_DEG = 30;

/** The bench: what each command does, and a log of every command. */
class Bench implements PlanTarget {
  angle = 0;
  axes = [0, 0];
  shutter = 1;
  log: string[] = [];
  failReads = new Set<number>();
  reads = 0;
  moveMs = 0;
  async command(id: string, method: string, args: unknown[] = []): Promise<unknown> {
    this.log.push(`${id}.${method}(${args.join(',')})`);
    const axis = (args[1] ?? args[0] ?? 1) as number;
    switch (`${id}.${method}`) {
      case 'rot.moveAbs':
        if (this.moveMs) await new Promise((r) => setTimeout(r, this.moveMs));
        this.angle = args[0] as number;
        return this.angle;
      case 'rot.getPosition':
        return this.angle;
      case 'pm.read': {
        this.reads++;
        if (this.failReads.has(this.reads)) throw new DaqError('DAQ_READ_TIMEOUT', `no reply from pm (read ${this.reads})`);
        const c = Math.cos(((this.angle - AXIS_DEG) * Math.PI) / 180);
        return [{ channel: 'power', value: this.shutter * 1e-3 * c * c, unit: 'W' }] satisfies Reading[];
      }
      case 'stage.limits':
        return { min: -10, max: 10 };
      case 'stage.moveAbs':
        if (this.moveMs) await new Promise((r) => setTimeout(r, this.moveMs));
        this.axes[(args[1] as number) - 1] = args[0] as number;
        return args[0];
      case 'stage.waitSettled':
      case 'stage.stop':
        return undefined;
      case 'stage.position':
        return this.axes[axis - 1];
      case 'laser.read':
        return [{ channel: 'shutter', value: this.shutter, unit: '' }];
      default:
        throw new DaqError('DAQ_UNKNOWN_COMMAND', `${id} has no command ${method}`, { instrument: id, command: method });
    }
  }
}

/** Runs with every document collected and checked against the schemas. */
function collector(t: Test) {
  const docs: Document[] = [];
  return {
    docs,
    onDocument: (d: Document) => {
      t.same(documentErrors(d.name, d.doc), [], `${d.name} document is valid event-model`);
      docs.push(d);
    },
  };
}

t.test('a polarizer scan: one event per point, cos² recovered, documents in order and valid', async (t) => {
  const bench = new Bench();
  const { docs, onDocument } = collector(t);
  const r = await new RunEngine(bench, config).run(scan({ detectors: ['pm'], motor: 'rot', start: 0, stop: 180, num: 19 }), {
    onDocument,
    md: { sample: 'polarizer A' },
  });
  t.equal(r.exitStatus, 'success');
  t.equal(r.events, 19);
  t.same(
    docs.map((d) => d.name),
    ['start', 'descriptor', ...Array(19).fill('event'), 'stop'],
  );
  const start = docs[0]!.doc as Record<string, unknown>;
  t.match(start, { plan_name: 'scan', motors: ['rot'], detectors: ['pm'], num_points: 19, sample: 'polarizer A' });
  const events = docs.filter((d) => d.name === 'event').map((d) => d.doc as { seq_num: number; data: Record<string, number> });
  t.same(
    events.map((e) => e.seq_num),
    Array.from({ length: 19 }, (_, i) => i + 1),
  );
  // The brightest angle is the polarizer's axis.
  const best = events.reduce((a, b) => (b.data['pm-power']! > a.data['pm-power']! ? b : a));
  t.equal(best.data.rot, AXIS_DEG);
  t.same((docs.at(-1)!.doc as { num_events: unknown }).num_events, { primary: 19 });
});

t.test('limits are checked before anything moves; every bad point is listed', async (t) => {
  const bench = new Bench();
  const plan = gridScan({
    detectors: ['pm'],
    axes: [
      { motor: 'stage.axis1', start: -5, stop: 15, num: 5 },
      { motor: 'stage.axis2', start: 0, stop: 1, num: 2 },
    ],
  });
  await t.rejects(new RunEngine(bench, config).run(plan), {
    code: 'DAQ_INVALID_ARGUMENT',
    message: /nothing was moved:\n {2}- point 7: stage\.axis1 = 10 is|point 9: stage\.axis1 = 15 is outside its limits -10 to 10/,
  });
  t.notOk(
    bench.log.some((l) => l.includes('moveAbs')),
    'no move was sent',
  );
  await t.rejects(
    new RunEngine(bench, config).run(scan({ detectors: ['pm', 'nope'], motor: 'laser', start: 0, stop: 1, num: 2 })),
    {
      message:
        /motor laser: laser is a MaiTai: move "laser\.wavelength" or "laser\.shutter"\n {2}- detector nope: no instrument "nope"/,
    },
  );
});

t.test('grid scan: first axis outermost, snaking inner axis', async (t) => {
  const bench = new Bench();
  const { docs, onDocument } = collector(t);
  const plan = gridScan({
    detectors: ['pm'],
    snake: true,
    axes: [
      { motor: 'stage.axis1', start: 0, stop: 2, num: 3 },
      { motor: 'stage.axis2', start: 0, stop: 1, num: 2 },
    ],
  });
  await new RunEngine(bench, config).run(plan, { onDocument });
  const visited = docs.filter((d) => d.name === 'event').map((d) => (d.doc as { data: Record<string, number> }).data);
  t.same(
    visited.map((d) => [d['stage-axis1'], d['stage-axis2']]),
    [
      [0, 0],
      [0, 1],
      [1, 1],
      [1, 0],
      [2, 0],
      [2, 1],
    ],
  );
});

t.test('pause at the end of a point, resume, then abort: stop sent, exit status abort', async (t) => {
  const bench = new Bench();
  bench.moveMs = 20;
  const { docs, onDocument } = collector(t);
  const engine = new RunEngine(bench, config);
  const states: string[] = [];
  const running = engine.run(listScan({ detectors: ['pm'], motor: 'stage.axis1', positions: [1, 2, 3, 4, 5, 6] }), {
    onDocument,
    onProgress: (p) => {
      states.push(`${p.done}:${p.state}`);
      if (p.done === 2) engine.pause('deferred');
    },
  });
  while (engine.currentState !== 'paused') await new Promise((r) => setTimeout(r, 5));
  const held = docs.filter((d) => d.name === 'event').length;
  await new Promise((r) => setTimeout(r, 50));
  t.equal(docs.filter((d) => d.name === 'event').length, held, 'nothing happens while paused');
  t.equal(held, 2, 'paused at the end of point 2');
  engine.resume();
  while (docs.filter((d) => d.name === 'event').length < 4) await new Promise((r) => setTimeout(r, 5));
  engine.abort('operator saw smoke');
  const r = await running;
  t.equal(r.exitStatus, 'abort');
  t.match(r.reason, /operator saw smoke/);
  t.ok(bench.log.includes('stage.stop(1)'), 'the motor was stopped');
  t.ok(r.events >= 4 && r.events < 6, `${r.events} events before the abort`);
  t.equal((docs.at(-1)!.doc as { exit_status: string }).exit_status, 'abort');
});

t.test('an immediate pause interrupts a move; resume repeats the point', async (t) => {
  const bench = new Bench();
  bench.moveMs = 100;
  const { docs, onDocument } = collector(t);
  const engine = new RunEngine(bench, config);
  const running = engine.run(scan({ detectors: ['pm'], motor: 'rot', start: 0, stop: 90, num: 3 }), { onDocument });
  await new Promise((r) => setTimeout(r, 30)); // mid-move of point 1
  engine.pause('immediate');
  while (engine.currentState !== 'paused') await new Promise((r) => setTimeout(r, 5));
  t.equal(docs.filter((d) => d.name === 'event').length, 0, 'the interrupted point made no event');
  engine.resume();
  const r = await running;
  t.equal(r.exitStatus, 'success');
  t.same(
    docs.filter((d) => d.name === 'event').map((d) => (d.doc as { data: Record<string, number> }).data.rot),
    [0, 45, 90],
    'every point once, the interrupted one repeated',
  );
});

t.test('a suspender holds the plan while the shutter is closed and records the suspension', async (t) => {
  const bench = new Bench();
  const { onDocument } = collector(t);
  const engine = new RunEngine(bench, config);
  bench.shutter = 0;
  setTimeout(() => (bench.shutter = 1), 150);
  const r = await engine.run(count({ detectors: ['pm'], num: 3 }), {
    onDocument,
    suspenders: [{ instrument: 'laser', channel: 'shutter', op: '==', value: 0, resumeAfterMs: 50 }],
    suspenderPollMs: 10,
  });
  t.equal(r.exitStatus, 'success');
  t.equal(r.suspensions.length, 1);
  t.match(r.suspensions[0], { suspender: 'laser.shutter == 0', point: 1 });
  t.ok(r.suspensions[0]!.until! - r.suspensions[0]!.since >= 0.15, 'held until the shutter opened and stayed open');
});

t.test('a failing point: retried, then skipped (recorded) or the run fails', async (t) => {
  const bench = new Bench();
  bench.failReads = new Set([2, 3]); // point 2 fails twice
  const skip = await new RunEngine(bench, config).run(count({ detectors: ['pm'], num: 4 }), {
    onFailure: { retries: 1, then: 'skip' },
  });
  t.equal(skip.exitStatus, 'success');
  t.equal(skip.events, 3);
  t.match(skip.skipped, [{ point: 2, error: /no reply from pm/ }]);
  const again = new Bench();
  again.failReads = new Set([2, 3]);
  const retried = await new RunEngine(again, config).run(count({ detectors: ['pm'], num: 4 }), {
    onFailure: { retries: 2, then: 'abort' },
  });
  t.equal(retried.exitStatus, 'success', 'the third attempt succeeded');
  t.equal(retried.events, 4);
  const hard = new Bench();
  hard.failReads = new Set([2]);
  const failed = await new RunEngine(hard, config).run(count({ detectors: ['pm'], num: 4 }));
  t.equal(failed.exitStatus, 'fail');
  t.match(failed.reason, /point 2 failed after 1 attempt\(s\): no reply from pm/);
  t.equal(failed.events, 1);
});

t.test('rel_scan moves relative to the start and goes back there', async (t) => {
  const bench = new Bench();
  bench.axes[0] = 3;
  const r = await new RunEngine(bench, config).run(
    relScan({ detectors: ['pm'], motor: 'stage.axis1', start: -1, stop: 1, num: 3 }),
  );
  t.equal(r.events, 3);
  t.same(
    bench.log.filter((l) => l.startsWith('stage.moveAbs')),
    ['stage.moveAbs(2,1)', 'stage.moveAbs(3,1)', 'stage.moveAbs(4,1)', 'stage.moveAbs(3,1)'],
  );
});

t.test('time_series keeps its schedule; count keeps its delay', async (t) => {
  const bench = new Bench();
  const began = performance.now();
  const r = await new RunEngine(bench, config).run(timeSeries({ detectors: ['pm'], rate_hz: 20, duration_s: 0.25 }));
  t.equal(r.events, 5);
  t.ok(performance.now() - began >= 200, 'five points 50 ms apart take at least 200 ms');
  t.throws(() => timeSeries({ detectors: ['pm'], rate_hz: 0, duration_s: 1 }), { code: 'DAQ_INVALID_ARGUMENT' });
  t.throws(() => scan({ detectors: ['pm'], motor: 'rot', start: 0, stop: 1, num: 0 }), /num must be a whole number/);
});
