// The broker's state at the end of a run: with every client done, no lease may be held, nobody
// may wait for a port and no VISA command may be pending; every worker must have exited, the
// regular ones leaving nothing for the broker to release.

import type { CheckList } from './check-list.js';
import { sum } from './numbers.js';
import type { RegularWorker } from './regular-workers.js';
import type { StressLab } from './scenario.js';

export interface EndState {
  leasesHeld: number;
  waiters: number;
  visaPending: number;
  workersExited: number;
  workers: number;
}

/** What the broker holds (read with the clients done, the workers still alive). */
export function brokerHolds(lab: StressLab): Pick<EndState, 'leasesHeld' | 'waiters' | 'visaPending'> {
  const { serial, visa } = lab.resources;
  return { leasesHeld: serial.leasesHeld, waiters: sum(serial.status().map((s) => s.waiters.length)), visaPending: visa.pending };
}

export function checkEndState(c: CheckList, endState: EndState, regulars: RegularWorker[]): void {
  c.check(
    'no lease held, no waiter, no VISA command pending',
    endState.leasesHeld === 0 && endState.waiters === 0 && endState.visaPending === 0,
    JSON.stringify(endState),
  );
  c.check('all workers exited', endState.workersExited === endState.workers, `${endState.workersExited} of ${endState.workers}`);
  const dirtyExit = regulars.filter((r) => !r.released || r.released.leases !== 0 || r.released.commands !== 0);
  c.check(
    'regular workers left nothing behind at exit',
    dirtyExit.length === 0,
    dirtyExit.map((r) => `${r.identity}: ${JSON.stringify(r.released)}`).join('; ') || 'nothing',
  );
}
