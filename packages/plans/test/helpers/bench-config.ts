// The configuration the plans unit tests resolve motors and detectors against: a V2 rotator,
// a V4 meter, a V4 two-axis stage and a V4 laser (no hardware is opened from it).
import { parseConfig } from '@daq/core';

export const benchConfig = parseConfig(
  `
[v2]
[[v2.instruments]]
id = "rot"
type = "Elliptec"
serial_port = "/dev/ttyUSB0"
[v4]
[[v4.instruments]]
id = "pm"
type = "Newport1830C"
serial_port = "/dev/ttyUSB1"
[[v4.instruments]]
id = "stage"
type = "ESP300"
serial_port = "/dev/ttyUSB2"
axes = [1, 2]
[[v4.instruments]]
id = "laser"
type = "MaiTai"
serial_port = "/dev/ttyUSB3"
`,
  'bench.toml',
).config;
