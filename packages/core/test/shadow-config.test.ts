// [v4.shadow]: defaults, and the checks that keep shadow mode meaningful (the per-entry
// errors are in test/fixtures/invalid/shadow-errors.toml).

import t from 'tap';
import { validateConfigText as validate } from '../src/index.js';

// Shadowed V2 instruments also warn that their type is deprecated: packages/core/test/retirement.test.ts.
const validateConfigText = (text: string, file: string) => validate(text, file, { deprecations: false });

const base = (v2 = '', v4 = '', shadow = '') => `
[v2]
${v2}
[[v2.instruments]]
id = "pm1"
type = "Newport1830C"
serial_port = "/dev/ttyPM"
poll_hz = 4
[v4]
${v4}
${shadow}
`;

t.test('defaults: no shadow unless asked, with or without a [v4] section', async (t) => {
  const r = validateConfigText(base(), 'a.toml');
  t.same(r.config?.v4.shadow, { instruments: [], worst: 5, max_rel_diff: 0.01 });
  const noV4 = validateConfigText('[v2]\n[[v2.instruments]]\nid = "m"\ntype = "MockPower"\n', 'b.toml');
  t.same(noV4.config?.v4.shadow, { instruments: [], worst: 5, max_rel_diff: 0.01 });
});

t.test('a valid shadow section keeps its settings', async (t) => {
  const r = validateConfigText(base('', '', '[v4.shadow]\ninstruments = ["pm1"]\ntolerance_ms = 40\nworst = 0'), 'a.toml');
  t.same(r.diagnostics, []);
  t.same(r.config?.v4.shadow, { instruments: ['pm1'], tolerance_ms: 40, worst: 0, max_rel_diff: 0.01 });
});

t.test('shadow mode needs both subsystems enabled', async (t) => {
  const shadow = '[v4.shadow]\ninstruments = ["pm1"]';
  const v4off = validateConfigText(base('', 'enabled = false', shadow), 'a.toml');
  t.equal(v4off.config, undefined);
  t.match(v4off.diagnostics, [{ path: 'v4.enabled', message: /shadow mode runs V4 drivers: \[v4\] must be enabled/ }]);
  const v2off = validateConfigText(base('enabled = false', '', shadow), 'a.toml');
  t.equal(v2off.config, undefined);
  t.match(v2off.diagnostics, [{ path: 'v4.shadow.instruments', message: /\[v2\] must be enabled/ }]);
});

t.test('bad shadow values are schema errors; poll_hz = 0 is a warning', async (t) => {
  const bad = validateConfigText(base('', '', '[v4.shadow]\ninstruments = ["pm1", "pm1"]\ntolerance_ms = 0'), 'a.toml');
  t.equal(bad.config, undefined);
  t.equal(bad.diagnostics.filter((d) => d.path.startsWith('v4.shadow')).length, 2, JSON.stringify(bad.diagnostics));
  const idle = validateConfigText(
    base('', '', '[v4.shadow]\ninstruments = ["pm1"]').replace('poll_hz = 4', 'poll_hz = 0'),
    'a.toml',
  );
  t.ok(idle.config, 'still valid');
  t.match(idle.diagnostics, [{ severity: 'warning', message: /poll_hz = 0: neither V2 nor V4 takes readings/ }]);
});
