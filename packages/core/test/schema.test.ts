import t from 'tap';
import { readFile } from 'node:fs/promises';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { parse } from 'smol-toml';
import { configReferenceMarkdown, schemaFileText, INSTRUMENT_TYPES } from '@daq/core';

const root = new URL('../../../', import.meta.url);

t.test('schema/daq-config.schema.json is current (regenerate with `npm run schema`)', async (t) => {
  const onDisk = await readFile(new URL('schema/daq-config.schema.json', root), 'utf8');
  t.equal(onDisk, schemaFileText());
});

t.test('docs/configuration.md is current (regenerate with `npm run schema`)', async (t) => {
  const onDisk = await readFile(new URL('docs/configuration.md', root), 'utf8');
  t.equal(onDisk, configReferenceMarkdown());
  for (const spec of INSTRUMENT_TYPES) t.match(onDisk, `### ${spec.type} (`, `${spec.type} is documented`);
});

t.test('the published schema works on its own, as an editor would use it', async (t) => {
  const schema = JSON.parse(await readFile(new URL('schema/daq-config.schema.json', root), 'utf8'));
  const validate = new Ajv2020({ allErrors: true, strict: false }).compile(schema);
  for (const name of ['seed', 'demo', 'v2-only', 'v4-only', 'shared-port']) {
    const doc = parse(await readFile(new URL(`examples/${name}.toml`, root), 'utf8'));
    t.ok(validate(doc), `examples/${name}.toml matches the schema`);
  }
  t.notOk(validate({ v2: { instruments: [{ id: 'x', type: 'Elliptec' }] } }), 'a serial instrument without a port');
  const types = new Set(INSTRUMENT_TYPES.map((s) => s.type));
  t.same([...types].sort(), ['ESP300', 'Elliptec', 'MaiTai', 'MockPower', 'Newport1830C', 'PVCAMInstrument', 'ScpiInstrument']);
});
