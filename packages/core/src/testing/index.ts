// @daq/core/testing: test doubles for unit tests of one class (a driver against a scripted
// device). End-to-end tests use the real broker, serialport and the simulators instead.
export { InMemoryBroker, type ScriptedVisaDevice } from './in-memory-broker.js';
export { InMemorySerialLine, type ScriptedDevice } from './in-memory-serial-line.js';
