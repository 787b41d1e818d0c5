// @daq/protocols: the instruments' protocols as the drivers speak them, shared by V2 and V4:
// codecs (commands to bytes, replies to values, from the manuals and hardware-tested drivers;
// docs/protocols.md) and device clients (a conversation with one device over a SerialChannel).
// Simulators never import this package: they are written from the manuals on their own, so a
// misread protocol cannot hide on both sides.
export * from './elliptec.js';
export * from './newport-1830c.js';
export * from './maitai.js';
export * from './esp300.js';
export * from './scpi.js';
export * from './elliptec-device.js';
export * from './newport-1830c-device.js';
export * from './maitai-device.js';
export * from './esp300-device.js';
