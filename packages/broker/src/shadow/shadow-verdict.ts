// The verdict of a shadow comparison, decided here only: per channel, V4 agrees with V2 when
// the largest relative difference of its pairs, |V4 − V2| / |V2|, is at most the tolerance
// (`[v4.shadow] max_rel_diff`). shadow.json, run.json, the run summary, `daq inspect` and the
// daemon's shadow dashboard all show what these functions say.

import type { ShadowChannelReport, ShadowInstrumentReport, ShadowReport } from './shadow-comparator.js';

/** What a channel's numbers say against the tolerance. */
export type ChannelVerdictState = 'agrees' | 'differs' | 'no-pairs';
/** The same for an instrument or a whole comparison; `failed`: V4 could not run an instrument. */
export type VerdictState = ChannelVerdictState | 'failed';

export interface ShadowVerdict {
  state: VerdictState;
  /** "V4 agrees", "V4 differs: see the worst moments (pm.power: max rel 2.00 % > 1.00 %)", "no pairs yet", … */
  text: string;
  /** The tolerance it was decided by (max_rel_diff). */
  maxRelDiff: number;
  /** The channels that differ, as "instrument.channel" (or the channel alone, for one instrument). */
  differs: string[];
}

/** The numbers of a channel the verdict reads (a ShadowChannelReport, or run.json's copy of one). */
export interface VerdictChannel {
  pairs: number;
  maxRelDiff: number | null;
  /** Pairs where V2 read 0 and V4 did not: no relative difference, so not agreement either. */
  relUndefined: number;
}

export interface VerdictInstrument {
  channels: Record<string, VerdictChannel>;
  v4Error?: string;
}

export const DEFAULT_MAX_REL_DIFF = 0.01;

/** A report as the comparator counts it, before (or regardless of) its verdicts. */
export type UnjudgedReport = Omit<ShadowReport, 'verdict' | 'maxRelDiff' | 'instruments'> & {
  instruments: Record<
    string,
    Omit<ShadowInstrumentReport, 'verdict' | 'channels'> & {
      channels: Record<string, Omit<ShadowChannelReport, 'verdict'>>;
    }
  >;
};

const pct = (v: number) => `${(v * 100).toFixed(2)} %`;

export function channelVerdict(c: VerdictChannel, maxRelDiff: number): ChannelVerdictState {
  if (c.pairs === 0) return 'no-pairs';
  if (c.relUndefined > 0) return 'differs';
  return c.maxRelDiff !== null && c.maxRelDiff > maxRelDiff ? 'differs' : 'agrees';
}

/** Why a differing channel differs, for the verdict's text. */
function why(name: string, c: VerdictChannel, maxRelDiff: number): string {
  const parts: string[] = [];
  if (c.maxRelDiff !== null && c.maxRelDiff > maxRelDiff) parts.push(`max rel ${pct(c.maxRelDiff)} > ${pct(maxRelDiff)}`);
  if (c.relUndefined > 0) parts.push(`${c.relUndefined} pair${c.relUndefined === 1 ? '' : 's'} where V2 read 0 and V4 did not`);
  return `${name}: ${parts.join(', ')}`;
}

/**
 * The verdict over instruments (one or many): differs if any channel differs, else failed if
 * V4 could not run one, else agrees if any channel has pairs (naming those without), else no
 * pairs. `final`: the run has ended (then "no pairs" is not "yet").
 */
export function shadowVerdict(instruments: Record<string, VerdictInstrument>, maxRelDiff: number, final: boolean): ShadowVerdict {
  const several = Object.keys(instruments).length > 1;
  const differs: string[] = [];
  const reasons: string[] = [];
  const empty: string[] = [];
  const failed: string[] = [];
  let agreeing = 0;
  for (const [id, i] of Object.entries(instruments)) {
    if (i.v4Error) failed.push(`${id} (${i.v4Error})`);
    for (const [ch, c] of Object.entries(i.channels)) {
      const name = several ? `${id}.${ch}` : ch;
      const state = channelVerdict(c, maxRelDiff);
      if (state === 'differs') {
        differs.push(`${id}.${ch}`);
        reasons.push(why(name, c, maxRelDiff));
      } else if (state === 'no-pairs') empty.push(name);
      else agreeing++;
    }
    if (Object.keys(i.channels).length === 0 && !i.v4Error) empty.push(several ? id : 'its channels');
  }
  const noPairs = final ? 'no pairs: nothing was compared' : 'no pairs yet';
  let state: VerdictState;
  let text: string;
  if (differs.length) {
    state = 'differs';
    text = `V4 differs: see the worst moments (${reasons.join('; ')})`;
  } else if (failed.length) {
    state = 'failed';
    text = `V4 could not run ${failed.join(', ')}`;
  } else if (agreeing > 0) {
    state = 'agrees';
    text = `V4 agrees${empty.length ? ` (${final ? 'no pairs' : 'no pairs yet'} for ${empty.join(', ')})` : ''}`;
  } else {
    state = 'no-pairs';
    text = noPairs;
  }
  return { state, text, maxRelDiff, differs };
}

/** The report with every verdict decided by `maxRelDiff` (a report already judged is judged again). */
export function withVerdicts(report: UnjudgedReport, maxRelDiff: number): ShadowReport {
  const instruments: Record<string, ShadowInstrumentReport> = {};
  for (const [id, i] of Object.entries(report.instruments)) {
    const channels: Record<string, ShadowChannelReport> = {};
    for (const [name, c] of Object.entries(i.channels)) channels[name] = { ...c, verdict: channelVerdict(c, maxRelDiff) };
    instruments[id] = { ...i, channels, verdict: shadowVerdict({ [id]: i }, maxRelDiff, report.final) };
  }
  return { ...report, maxRelDiff, verdict: shadowVerdict(report.instruments, maxRelDiff, report.final), instruments };
}
