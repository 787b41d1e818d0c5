// What a stress run reports: the result object (checks, figures, samples, every client's
// counts) and the one-line summary for the log.

import type { ClientReport, PortKey } from '../workers/stress-client.js';
import type { Check } from './check-list.js';
import type { EndState } from './end-state.js';
import type { LeakFigures, Sample } from './memory-samples.js';
import { round } from './numbers.js';
import type { ClientTotals, PortFigures, VisaFigures } from './reconcile.js';
import type { StressSettings } from './scenario.js';
import type { TroubleRecord } from './trouble-workers.js';

export interface StressResult {
  ok: boolean;
  violations: string[];
  checks: Check[];
  options: StressSettings;
  durationMs: number;
  /** Time from the deadline until the last client reported. */
  overrunMs: number;
  totals: ClientTotals;
  ports: Record<PortKey, PortFigures>;
  visa: VisaFigures;
  trouble: TroubleRecord[];
  endState: EndState;
  samples: Sample[];
  leak: LeakFigures;
  clients: Omit<ClientReport, 'waitsMs'>[];
}

/** Every client's report without its list of waits (the port figures carry their quantiles). */
export const withoutWaits = (reports: ClientReport[]) => reports.map(({ waitsMs: _w, ...r }) => r);

export function summaryLine(r: Pick<StressResult, 'totals' | 'durationMs' | 'ports' | 'visa' | 'violations'>): string {
  const { totals } = r;
  return (
    `stress: ${totals.issued} commands (${totals.answered} answered, ${totals.failed} failed ${JSON.stringify(totals.failedByCode)}) in ${round(r.durationMs / 1000)} s; ` +
    `bus ${r.ports.bus.stats.acquisitions} grants, newport ${r.ports.newport.stats.acquisitions}, visa ${r.visa.stats.commands}; ${r.violations.length} violations`
  );
}
