// The V2 worker's drivers are the modules present: each loads by its package export, and an
// instrument whose driver is absent (its retirement batch removed) is refused with the batch.

import t from 'tap';
import { Clock, parseConfig } from '@daq/core';
import { InMemoryBroker } from '@daq/core/testing';
import { createV2Instrument, loadV2Drivers, v2DriverSpecifier, v2InstrumentFactory } from '../src/index.js';

const context = { broker: new InMemoryBroker('v2'), clock: new Clock(), leaseTimeoutMs: 1000 };
const v2 = (toml: string) =>
  parseConfig(`[v2]\n[[v2.instruments]]\n${toml}`, 'unit.toml', { deprecations: false }).config.v2.instruments[0]!;

t.test('every V2 driver module of this installation loads', async (t) => {
  const drivers = await loadV2Drivers();
  t.same(drivers.map((d) => d.type).sort(), ['Elliptec', 'MaiTai', 'MockPower', 'Newport1830C']);
  t.equal(v2DriverSpecifier('Newport1830C'), '@daq/v2-worker/drivers/newport-1830c');
  t.equal(v2DriverSpecifier('ESP300'), undefined);
  t.equal(createV2Instrument(v2('id = "m"\ntype = "MockPower"'), context).constructor.name, 'MockPowerV2');
});

t.test('a V2 type whose driver is absent says which batch removed it', async (t) => {
  const drivers = (await loadV2Drivers()).filter((d) => d.type === 'MockPower');
  const create = v2InstrumentFactory(drivers);
  t.ok(create(v2('id = "m"\ntype = "MockPower"'), context));
  t.throws(() => create(v2('id = "pm"\ntype = "Newport1830C"\nserial_port = "/dev/ttyPM"'), context), {
    code: 'DAQ_CONFIG',
    message:
      "this installation's V2 has no Newport1830C driver (removed with batch 1, docs/migration.md#batch-1) (instrument pm); migrate it to V4 with daq migrate",
  });
  t.throws(() => create(v2('id = "l"\ntype = "MaiTai"\nserial_port = "/dev/ttyL"'), context), {
    message: /removed with batch 2/,
  });
  t.throws(() => create({ id: 'x', type: 'ESP300' } as never, context), {
    message: 'V2 has no driver for ESP300 (instrument x); configure it under [v4]',
  });
});
