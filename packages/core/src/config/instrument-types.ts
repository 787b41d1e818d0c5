// Every instrument type the runtime knows, with its fields, defaults and documentation.
// The JSON Schema, the defaults applied at load time and the configuration reference are all
// generated from this one table, so they cannot drift apart.

export type JsonSchema = { [key: string]: unknown };
import type { SubsystemName } from './types.js';

export type Transport = 'serial' | 'visa' | 'camera' | 'none';

export interface InstrumentTypeSpec {
  type: string;
  subsystems: readonly SubsystemName[];
  transport: Transport;
  description: string;
  fields: Record<string, JsonSchema>;
  required: readonly string[];
}

export const BAUD_RATES = [300, 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600] as const;

/** The line settings of a serial port; instruments sharing a port must agree on all of them. */
export const SERIAL_LINE_KEYS = ['baud_rate', 'data_bits', 'parity', 'stop_bits', 'flow_control'] as const;

/** The reply timeout every serial type has; the default is the instrument's, with the reason. */
function timeoutField(def: number, why: string): JsonSchema {
  return {
    type: 'integer',
    minimum: 10,
    maximum: 600000,
    default: def,
    description: `How long the driver waits for one reply, in ms. Default ${def}: ${why}.`,
  };
}

function moveTimeoutField(def: number, why: string): JsonSchema {
  return {
    type: 'integer',
    minimum: 100,
    maximum: 3600000,
    default: def,
    description: `How long a move or a home may take before the driver reports a timeout, in ms. Default ${def}: ${why}.`,
  };
}

function serialFields(baud: number, manual: string, flow: 'none' | 'rtscts' | 'xonxoff' = 'none'): Record<string, JsonSchema> {
  return {
    serial_port: {
      type: 'string',
      minLength: 1,
      description:
        'Serial device path, e.g. "/dev/ttyUSB0". With [application] simulate = true it names the simulated port: instruments with the same serial_port share one simulated line.',
    },
    baud_rate: { enum: [...BAUD_RATES], default: baud, description: `Line speed in baud (${manual}).` },
    data_bits: { enum: [7, 8], default: 8, description: 'Data bits per character.' },
    parity: { enum: ['none', 'even', 'odd'], default: 'none', description: 'Parity.' },
    stop_bits: { enum: [1, 2], default: 1, description: 'Stop bits.' },
    flow_control: { enum: ['none', 'rtscts', 'xonxoff'], default: flow, description: 'Flow control.' },
    sim: SIM_FAULTS_FIELD,
  };
}

function pollHz(def: number, why: string): JsonSchema {
  return {
    type: 'number',
    minimum: 0,
    maximum: 1000,
    default: def,
    description: `Readings per second; 0 reads identity only and never polls. Default ${def}: ${why}.`,
  };
}

/** The simulated models a type offers under `sim.model` (the simulator's choices, listed here so config checks them). */
export const SIM_MODELS = {
  Elliptec: ['ELL6', 'ELL9', 'ELL12', 'ELL14', 'ELL15', 'ELL16', 'ELL17', 'ELL18', 'ELL20', 'ELL21', 'ELL22'],
  Newport1830C: ['818-SL', '818-IR', '818-UV'],
  MaiTai: ['HP', 'early-750-850', 'early-780-920'],
} as const;

/** Keys a type adds to its `sim` table, and what the table's description says of them. */
interface SimExtra {
  properties: Record<string, JsonSchema>;
  what: string;
}

/** Settings and fault injection for the instrument's simulator (used only with [application] simulate = true). */
function simField(model?: { choices: readonly string[]; default: string; what: string }, extra?: SimExtra): JsonSchema {
  return {
    type: 'object',
    additionalProperties: false,
    description:
      'Simulator settings (simulate = true only): profile "hardware" gives the real device\'s response, move and stall times ("fast", the default, answers as quickly as the line allows); latency_ms added to every reply; drop_probability, corrupt_probability and late_probability (0-1) of a reply being dropped, garbled or sent late_ms late; seed makes the faults repeatable; v4_offset is added to readings V4 gets' +
      (model ? `; model picks ${model.what}` : '') +
      (extra ? `; ${extra.what}` : '') +
      '.',
    properties: {
      latency_ms: { type: 'number', minimum: 0, maximum: 60000, default: 0 },
      drop_probability: { type: 'number', minimum: 0, maximum: 1, default: 0 },
      corrupt_probability: { type: 'number', minimum: 0, maximum: 1, default: 0 },
      late_probability: { type: 'number', minimum: 0, maximum: 1, default: 0 },
      late_ms: { type: 'number', minimum: 0, maximum: 600000, default: 0 },
      seed: { type: 'integer', minimum: 0, default: 1 },
      profile: { enum: ['fast', 'hardware'], default: 'fast' },
      v4_offset: {
        type: 'number',
        description:
          'Added to the measured quantity of replies served while V4 holds the line (Newport1830C: W; MaiTai: power in W; Elliptec: position in pulses): a known V2/V4 difference to rehearse shadow mode with.',
      },
      ...(model && {
        // No schema default: an unset model stays unset in the loaded config (and in migrated
        // files); the simulator applies its own default.
        model: {
          enum: [...model.choices],
          description: `The simulated ${model.what}; unset: ${model.default}.`,
        },
      }),
      ...extra?.properties,
    },
  };
}

/** The ids `sim.light` names (the instrument id pattern). */
const LIGHT_ID = { type: 'string', pattern: '^[A-Za-z][A-Za-z0-9_-]*$', maxLength: 64 } as const;

/**
 * Newport1830C `sim.light`: the simulated optical bench the meter reads. The simulators stay
 * independent; simulator-set (packages/sim) wires them by these ids and checks them at start.
 */
const LIGHT_FIELD: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  description:
    "A simulated optical bench in front of the meter's head: at each reading it sees P = P_source × transmission × cos²(θ − axis_deg) + leak_w, times (1 + noise × a standard Gaussian draw). P_source is the beam of the MaiTai named by laser (or source_w), θ the angle of the Elliptec rotation mount named by polarizer. The meter shows P in its own units, range and head, with over-range and saturation. Example: examples/polarization-scan.toml.",
  properties: {
    laser: {
      ...LIGHT_ID,
      description:
        'Id of the MaiTai whose beam reaches the meter: its output power at its current wavelength (the simulated laser follows a Ti:Sapphire tuning curve peaking at 800 nm, and lags while it tunes), zero while the pump is off or the shutter closed (it takes ~1 s to move). Unset: a constant source of source_w.',
    },
    laser_on: {
      type: 'boolean',
      default: true,
      description:
        'Start the laser named by laser warmed up, emitting, with its shutter open and its watchdog off (TIM:WATC 0, else the pump stops 3 s after the last command), so a scan sees light at once. false: it powers up as a real one does (pump off, shutter closed): a plan must send ON and SHUT 1.',
    },
    source_w: {
      type: 'number',
      minimum: 0,
      maximum: 1000,
      default: 0.001,
      description: 'Power of a constant source, in W, used when no laser is named.',
    },
    polarizer: {
      ...LIGHT_ID,
      description:
        'Id of the Elliptec rotation mount (ELL14, ELL16, ELL18, ELL21 or ELL22) holding a polarizer in the beam: the power goes as cos²(θ − axis_deg), θ being the angle the mount reports, also while it moves. Unset: no polarizer.',
    },
    axis_deg: {
      type: 'number',
      minimum: -360,
      maximum: 360,
      default: 0,
      description: "The polarizer's transmission axis, in degrees of the mount's angle (where the reading peaks).",
    },
    transmission: {
      type: 'number',
      minimum: 0,
      maximum: 1,
      default: 1,
      description:
        "Fraction of the source's power reaching the head with the polarizer aligned (polarizer, optics, a beam sampler or ND filter). An 818 head reads at most 20 mW (range 8) and saturates at 0.2 W with the attenuator off: the watts of a MaiTai need 0.005 or less, or the attenuator.",
    },
    leak_w: {
      type: 'number',
      minimum: 0,
      maximum: 1000,
      default: 0,
      description:
        'Stray light and background reaching the head whatever the laser and polarizer do, in W: what remains with the shutter closed.',
    },
    noise: {
      type: 'number',
      minimum: 0,
      maximum: 1,
      default: 0,
      description: 'Relative standard deviation of the Gaussian noise on each reading (0.01: 1 %).',
    },
    seed: {
      type: 'integer',
      minimum: 0,
      description: "Seed of the noise, for repeatable readings; unset: the sim table's seed.",
    },
  },
};

/** The simulator settings of types without model choices. */
export const SIM_FAULTS_FIELD: JsonSchema = simField();

const common: Record<string, JsonSchema> = {
  id: {
    type: 'string',
    pattern: '^[A-Za-z][A-Za-z0-9_-]*$',
    maxLength: 64,
    description: 'Unique instrument id across both subsystems (letters, digits, "_" and "-"; starts with a letter).',
  },
};

const elliptecFields: Record<string, JsonSchema> = {
  ...serialFields(9600, 'Elliptec manual: 9600 8N1; some units run at 115200'),
  address: {
    type: ['string', 'integer'],
    pattern: '^[0-9A-Fa-f]$',
    minimum: 0,
    maximum: 15,
    default: '0',
    description: 'Bus address 0-F of this device on its RS-485 bus; devices sharing a serial_port need distinct addresses.',
  },
  poll_hz: pollHz(2, 'a `gp` position query is ~13 bytes at 9600 baud, leaving the bus free for moves'),
  timeout_ms: timeoutField(
    1000,
    'a device answers a query within tens of ms; hardware-tested drivers allow 2-3 s, a second leaves the bus free sooner after a lost reply',
  ),
  move_timeout_ms: moveTimeoutField(
    30000,
    'hardware-tested drivers allow 30 s for moves and homes (slow velocity settings, long homes)',
  ),
  sim: simField({
    choices: SIM_MODELS.Elliptec,
    default: 'ELL14',
    what: 'device at this address (rotary mount, linear stage or slider)',
  }),
};

const newportFields: Record<string, JsonSchema> = {
  ...serialFields(9600, '1830-C manual: 9600 8N1, no flow control'),
  poll_hz: pollHz(2, 'a reading takes up to ~0.5 s with the slow filter'),
  timeout_ms: timeoutField(2000, 'a reading takes up to ~0.5 s with the slow filter; hardware-tested drivers use 2 s'),
  wavelength_nm: {
    type: 'integer',
    minimum: 1,
    maximum: 9999,
    description:
      'Calibration wavelength set at start-up (`Wnnnn`); unset leaves the meter as it is. The range depends on the detector head (818-SL ~400-1100 nm, 818-IR ~780-1800 nm): the meter decides, and a refused value is reported at start-up.',
  },
  filter: {
    enum: ['slow', 'medium', 'fast'],
    description: 'Digital filter set at start-up (`F1`-`F3`); unset leaves the meter as it is.',
  },
  attenuator: { type: 'boolean', description: 'Attenuator state set at start-up (`A0`/`A1`); unset leaves it.' },
  sim: simField(
    {
      choices: SIM_MODELS.Newport1830C,
      default: '818-SL',
      what: 'detector head, which sets the wavelengths the meter accepts',
    },
    {
      properties: { light: LIGHT_FIELD },
      what: 'light = { laser, laser_on, source_w, polarizer, axis_deg, transmission, leak_w, noise, seed } puts the meter on a simulated optical bench: it reads the beam of the MaiTai named by laser (or a constant source_w) through a polarizer on the Elliptec rotation mount named by polarizer, P = P_source × transmission × cos²(θ − axis_deg) + leak_w with relative Gaussian noise (keys described in the JSON Schema; example: examples/polarization-scan.toml)',
    },
  ),
};

const maitaiFields: Record<string, JsonSchema> = {
  ...serialFields(9600, 'MaiTai manual: RS-232 at 9600 8N1 with XON/XOFF flow control', 'xonxoff'),
  poll_hz: pollHz(1, 'replies can take over 1 s and queries must be strictly sequential'),
  timeout_ms: timeoutField(5000, 'replies were seen to take 2 s and more on hardware'),
  wavelength_nm: {
    type: 'integer',
    minimum: 600,
    maximum: 1100,
    description:
      'Wavelength commanded at start-up (`wav`); unset leaves the laser as it is. The tuning range depends on the model: the driver reads it (`WAVelength:MIN?`/`MAX?`) and refuses a value outside it.',
  },
  sim: simField({
    choices: SIM_MODELS.MaiTai,
    default: 'HP',
    what: 'laser model, which sets the tuning range and reply formats',
  }),
};

export const INSTRUMENT_TYPES: readonly InstrumentTypeSpec[] = [
  {
    type: 'Elliptec',
    subsystems: ['v2', 'v4'],
    transport: 'serial',
    description: 'Thorlabs Elliptec rotation mounts, linear stages and sliders (ELL6-ELL22) on an RS-485 bus.',
    fields: elliptecFields,
    required: ['serial_port'],
  },
  {
    type: 'Newport1830C',
    subsystems: ['v2', 'v4'],
    transport: 'serial',
    description: 'Newport 1830-C optical power meter (RS-232, single-letter commands).',
    fields: newportFields,
    required: ['serial_port'],
  },
  {
    type: 'MaiTai',
    subsystems: ['v2', 'v4'],
    transport: 'serial',
    description: 'Spectra-Physics MaiTai Ti:Sapphire laser: wavelength, power, shutter.',
    fields: maitaiFields,
    required: ['serial_port'],
  },
  {
    type: 'ESP300',
    subsystems: ['v4'],
    transport: 'serial',
    description: 'Newport ESP300 three-axis motion controller.',
    fields: {
      ...serialFields(19200, 'ESP300 manual: 19200 8N1; the manual describes RTS/CTS, units are known to work without it'),
      timeout_ms: timeoutField(
        6000,
        'the controller is silent for 2-5 s after an axis hits a travel limit (EPICS drvESP300 uses 5 s)',
      ),
      move_timeout_ms: moveTimeoutField(120000, 'a home search over a long stage at the home velocity takes minutes at worst'),
      axes: {
        type: 'array',
        items: { type: 'integer', minimum: 1, maximum: 3 },
        minItems: 1,
        maxItems: 3,
        uniqueItems: true,
        default: [1],
        description: 'Axes (1-3) this instrument drives and reports.',
      },
      poll_hz: pollHz(5, 'a `TP` query and reply take ~10 ms at 19200 baud'),
    },
    required: ['serial_port'],
  },
  {
    type: 'MockPower',
    subsystems: ['v2'],
    transport: 'none',
    description: 'A power meter without hardware: a steady reading with noise, for trying the runtime out.',
    fields: {
      poll_hz: pollHz(10, 'cheap, no hardware involved'),
      power_w: { type: 'number', minimum: 0, default: 0.001, description: 'Mean reading in watts.' },
      noise: { type: 'number', minimum: 0, maximum: 1, default: 0.01, description: 'Relative standard deviation of the noise.' },
    },
    required: [],
  },
  {
    type: 'ScpiInstrument',
    subsystems: ['v4'],
    transport: 'visa',
    description: 'Any SCPI (IEEE 488.2) instrument reached through VISA: raw socket, VXI-11/HiSLIP, serial, GPIB or USB.',
    fields: {
      resource: {
        type: 'string',
        description: 'VISA resource name, e.g. "TCPIP0::192.168.1.100::INSTR" or "TCPIP0::10.0.0.5::5025::SOCKET".',
      },
      poll_query: {
        type: 'string',
        minLength: 1,
        description: 'Query sent at poll_hz, e.g. "MEAS:VOLT:DC?"; unset: no polling.',
      },
      poll_hz: pollHz(1, 'one reading a second when poll_query is set'),
      unit: { type: 'string', default: '', description: 'Unit recorded with poll_query readings, e.g. "V".' },
      timeout_ms: {
        type: 'integer',
        minimum: 1,
        maximum: 600000,
        description: 'Per-command timeout; default [broker] visa_timeout_ms.',
      },
      read_termination: { type: 'string', default: '\n', description: 'Reply terminator.' },
      write_termination: { type: 'string', default: '\n', description: 'Command terminator.' },
      baud_rate: {
        enum: [...BAUD_RATES],
        description: 'Line speed for ASRL resources (default 9600); must agree with other users of the port.',
      },
      motor: {
        type: 'object',
        additionalProperties: false,
        required: ['set', 'read'],
        description:
          'Makes the instrument a motor for plans (e.g. a source\'s voltage): `set` is the command with {value} where the value goes ("SOUR:VOLT {value}"), `read` the query of the present value ("SOUR:VOLT?"); after each set the plan waits for *OPC? unless opc = false; min and max bound the values a plan may set.',
        properties: {
          set: { type: 'string', pattern: '\\{value\\}', description: 'Command that sets the value; {value} is replaced by it.' },
          read: { type: 'string', minLength: 1, description: 'Query answering the present value as a number.' },
          unit: { type: 'string', default: '', description: 'Unit of the value.' },
          min: { type: 'number', description: 'Lowest value a plan may set.' },
          max: { type: 'number', description: 'Highest value a plan may set.' },
          opc: { type: 'boolean', default: true, description: 'Wait for *OPC? after each set.' },
        },
      },
      sim: SIM_FAULTS_FIELD,
    },
    required: ['resource'],
  },
  {
    type: 'PVCAMInstrument',
    subsystems: ['v4'],
    transport: 'camera',
    description: 'Teledyne Photometrics camera through the PVCAM SDK (Prime BSI, Kinetix, ...).',
    fields: {
      camera_name: { type: 'string', minLength: 1, description: 'Camera name as PVCAM lists it, e.g. "pvcam0".' },
      exposure_ms: {
        type: 'number',
        exclusiveMinimum: 0,
        maximum: 3600000,
        default: 10,
        description: 'Exposure time per frame.',
      },
      roi: {
        type: 'object',
        additionalProperties: false,
        required: ['x', 'y', 'width', 'height'],
        properties: {
          x: { type: 'integer', minimum: 0 },
          y: { type: 'integer', minimum: 0 },
          width: { type: 'integer', minimum: 1 },
          height: { type: 'integer', minimum: 1 },
        },
        description: 'Region of interest in sensor pixels; unset: the full sensor.',
      },
      binning: { enum: [1, 2, 4, 8], default: 1, description: 'Binning, the same in both directions.' },
      bit_depth: {
        enum: [8, 12, 16],
        default: 16,
        description: 'Bits per pixel delivered by the sensor (frames are stored as 16-bit).',
      },
      cpu: {
        type: 'integer',
        minimum: 0,
        maximum: 1023,
        description: 'CPU the camera worker is pinned to (sched_setaffinity); unset: not pinned.',
      },
      realtime_priority: {
        type: 'integer',
        minimum: 1,
        maximum: 99,
        description:
          'SCHED_FIFO priority of the camera worker thread (sched_setscheduler), so no thread at normal priority delays taking frames; needs CAP_SYS_NICE or RLIMIT_RTPRIO >= this value (docs/performance.md), and is reported (run.json), not fatal, when refused. With it the worker sleeps 100 µs between polls of the camera instead of spinning. Best with cpu set to a CPU of its own (isolcpus). Unset: normal scheduling.',
      },
      buffer_frames: {
        type: 'integer',
        minimum: 2,
        maximum: 4096,
        default: 32,
        description: 'Frames in the SDK circular buffer.',
      },
      retrieval: {
        enum: ['oldest', 'latest'],
        default: 'oldest',
        description:
          '"oldest" (lossless): every frame is taken in order; "latest" (live view): the newest frame is taken and older ones are skipped (counted as lost at the source).',
      },
      ring_frames: {
        type: 'integer',
        minimum: 2,
        maximum: 4096,
        default: 8,
        description: "Frames the camera's SharedArrayBuffer ring to the broker holds (the ring is at most 1 GiB).",
      },
      stats: {
        type: 'boolean',
        default: true,
        description:
          'Compute per-frame statistics (min, max, mean, std, histogram) in the processing pool, stored as frame_stats; frames the pool has no time for are skipped and counted.',
      },
      stats_bins: {
        enum: [16, 32, 64, 128, 256, 512, 1024, 2048, 4096],
        default: 256,
        description: 'Histogram bins of frame_stats, over the full range of the bit depth.',
      },
      chunk_mb: {
        type: 'integer',
        minimum: 16,
        maximum: 1048576,
        default: 1024,
        description: 'Largest frame file in MiB; the next part file starts before a file would pass it.',
      },
    },
    required: ['camera_name'],
  },
];

export function instrumentTypesFor(subsystem: SubsystemName): InstrumentTypeSpec[] {
  return INSTRUMENT_TYPES.filter((t) => t.subsystems.includes(subsystem));
}

export function instrumentTypeSpec(subsystem: SubsystemName, type: string): InstrumentTypeSpec | undefined {
  return instrumentTypesFor(subsystem).find((t) => t.type === type);
}

export { common as COMMON_INSTRUMENT_FIELDS };
