// TOML plan files: every problem with its line and column, all at once; a good file becomes
// the plan, its failure policy, suspenders and metadata; checkPlanFile against a configuration.

import t from 'tap';
import { ConfigError } from '@daq/core';
import { checkPlanFile, parsePlanFile } from '../src/index.js';
import { benchConfig } from './helpers/bench-config.js';

const config = benchConfig;

function problems(text: string): string[] {
  try {
    parsePlanFile(text, 'p.toml');
  } catch (e) {
    if (e instanceof ConfigError) return e.diagnostics.map((d) => `${d.line}:${d.column} ${d.path}: ${d.message}`);
    throw e;
  }
  return [];
}

t.test('a good file: plan, policy, suspenders, metadata', async (t) => {
  const pf = parsePlanFile(
    `plan = "scan"
detectors = ["pm"]
motor = "rot"
start = 0
stop = 90
num = 4
[on_failure]
retries = 2
then = "skip"
[[suspenders]]
when = "laser.shutter == 0"
resume_after_ms = 500
[md]
sample = "A"
`,
    'p.toml',
  );
  t.equal(pf.plan.name, 'scan');
  t.same(
    [...pf.plan.points()].map((p) => p.moves.rot),
    [0, 30, 60, 90],
  );
  t.same(pf.onFailure, { retries: 2, then: 'skip' });
  t.same(pf.suspenders, [{ instrument: 'laser', channel: 'shutter', op: '==', value: 0, resumeAfterMs: 500 }]);
  t.same(pf.md, { sample: 'A' });
  t.same(checkPlanFile(pf, config), []);
});

t.test('every problem at once, each at its line and column', async (t) => {
  t.same(problems('plan = "scna"\n'), [
    '1:1 plan: "scna": plan must be one of count, scan, rel_scan, list_scan, grid_scan, time_series; did you mean "scan"?',
  ]);
  const p = problems(`plan = "scan"
detectors = "pm"
motor = "rot"
strat = 0
stop = 1
num = 2.5
[on_failure]
then = "ignore"
[[suspenders]]
when = "laser shutter is closed"
`);
  t.match(p, [
    /^2:1 detectors: "pm" is not a valid string\[\]/,
    /^4:1 strat: scan has no parameter strat; did you mean "start"\?/,
    /^6:1 num: 2\.5 is not a valid integer/,
    /^1:1 : scan needs start/,
    /^8:1 on_failure\.then: "ignore" is not valid/,
    /^10:1 suspenders\.0\.when: when must read/,
  ]);
  t.equal(p.length, 6, 'one line per problem');
  t.match(problems('plan = "count"\ndetectors = ["pm"]\nnum = 0\n'), [/num must be a whole number ≥ 1, got 0/]);
  t.match(problems('plan = "scan"\ndetectors = [\n'), [/^\d+:\d+ : not valid TOML/]);
});

t.test('checked against the configuration: instruments, capabilities, static limits', async (t) => {
  const pf = parsePlanFile(
    `plan = "grid_scan"
detectors = ["pm", "meter"]
axes = [
  { motor = "laser.wavelength", start = 500, stop = 900, num = 3 },
  { motor = "pm", start = 0, stop = 1, num = 2 },
]
[[suspenders]]
when = "nolaser.shutter == 0"
`,
    'p.toml',
  );
  const d = checkPlanFile(pf, config).map((x) => `${x.line}:${x.column} ${x.message}`);
  t.match(d, [
    /^5:5 pm is a Newport1830C, which a plan cannot move/,
    /^2:20 no instrument "meter" is configured/,
    /^3:1 point 1: laser\.wavelength = 500 is outside its limits 600 to 1100/,
    /^3:1 point 2: laser\.wavelength = 500 is outside its limits 600 to 1100/,
    /^8:1 no instrument "nolaser" is configured/,
  ]);
  t.equal(d.length, 5);
});
