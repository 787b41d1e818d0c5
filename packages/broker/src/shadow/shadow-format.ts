// Shadow comparison as text, for the run summary (from run.json) and `daq inspect` (from
// shadow.json, with the worst moments).

import type { ShadowChannelReport, ShadowInstrumentReport } from './shadow-comparator.js';
import { channelVerdict, shadowVerdict } from './shadow-verdict.js';

// Files written before verdicts existed have none: they are judged here by the tolerance given.
type Channel = Omit<ShadowChannelReport, 'worst' | 'verdict'> & { worst?: ShadowChannelReport['worst'] };
type Instrument = Omit<ShadowInstrumentReport, 'channels' | 'verdict'> & {
  channels: Record<string, Channel>;
  verdict?: ShadowInstrumentReport['verdict'];
};

const g = (v: number | null) =>
  v === null
    ? '-'
    : Number.isInteger(v) && Math.abs(v) < 1e6
      ? String(v)
      : Math.abs(v) < 1e-3 || Math.abs(v) >= 1e6
        ? v.toExponential(3)
        : v.toPrecision(4);
const signed = (v: number | null) => (v === null ? '-' : `${v > 0 ? '+' : ''}${g(v)}`);
const VERDICT_WORD = { agrees: 'agrees', differs: 'DIFFERS', 'no-pairs': 'no pairs' } as const;
const pct = (v: number | null) => (v === null ? '-' : `${(v * 100).toPrecision(3)} %`);

/**
 * Indented lines describing each shadowed instrument's comparison, and the verdict by
 * `maxRelDiff` (default: the tolerance the report was judged by; none for an old report).
 */
export function formatShadow(
  instruments: Record<string, Instrument>,
  options: { final: boolean; indent?: string; maxRelDiff?: number },
): string[] {
  const p = options.indent ?? '  ';
  const out = [
    `${p}shadow (V4 beside V2; V2's readings are the ones used)${options.final ? '' : ' (run still going: not final)'}:`,
  ];
  const tol = options.maxRelDiff ?? Object.values(instruments).find((i) => i.verdict)?.verdict?.maxRelDiff;
  if (tol !== undefined)
    out.push(
      `${p}  verdict (V4 agrees when max rel diff <= ${pct(tol)}): ${shadowVerdict(instruments, tol, options.final).text}`,
    );
  for (const i of Object.values(instruments)) {
    out.push(
      `${p}  ${i.id} (${i.type}, pairs within ${g(i.toleranceMs)} ms): ${i.pairs} pairs, unmatched V2 ${i.unmatched.v2} / V4 ${i.unmatched.v4}` +
        (i.outside.v2 + i.outside.v4
          ? ` (not compared, the other side not running: V2 ${i.outside.v2} / V4 ${i.outside.v4})`
          : ''),
    );
    if (i.v4Error) out.push(`${p}    V4 COULD NOT RUN IT: ${i.v4Error}`);
    if (Object.keys(i.channels).length === 0 && !i.v4Error) out.push(`${p}    no readings to compare`);
    for (const [name, c] of Object.entries(i.channels)) {
      const unit = c.v4Unit ? `${c.unit}; V4 reports ${c.v4Unit}` : c.unit;
      out.push(
        `${p}    ${name}${unit ? ` [${unit}]` : ''}: ${c.pairs} pairs (unmatched V2 ${c.unmatched.v2} / V4 ${c.unmatched.v4}), mean diff ${signed(c.meanDiff)}, mean |diff| ${g(c.meanAbsDiff)}, max |diff| ${g(c.maxAbsDiff)}, mean rel ${pct(c.meanRelDiff)}, max rel ${pct(c.maxRelDiff)}` +
          (c.invalid.v2 + c.invalid.v4 ? `; not numbers: V2 ${c.invalid.v2} / V4 ${c.invalid.v4}` : '') +
          (c.relUndefined ? `; V2 read 0 and V4 did not: ${c.relUndefined}` : '') +
          (tol === undefined ? '' : `: ${VERDICT_WORD[channelVerdict(c, tol)]}`),
      );
      for (const w of c.worst ?? [])
        out.push(
          `${p}      worst at ${w.timestamp}: V2 ${g(w.v2)}, V4 ${g(w.v4)}, diff ${signed(w.diff)} (V4 ${signed(w.dtMs)} ms later)`,
        );
    }
  }
  return out;
}
