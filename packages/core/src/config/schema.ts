// The JSON Schema (draft 2020-12) of a configuration file, generated from the instrument
// table. The same object validates at load time and is written to schema/ for editors.

import { COMMON_INSTRUMENT_FIELDS, instrumentTypesFor, type JsonSchema } from './instrument-types.js';
import type { SubsystemName } from './types.js';

export const SCHEMA_ID = 'https://daq-runtime.invalid/schema/daq-config.schema.json';

function instrumentSchema(subsystem: SubsystemName): JsonSchema {
  const types = instrumentTypesFor(subsystem);
  return {
    type: 'object',
    description: `One ${subsystem.toUpperCase()} instrument; its fields depend on \`type\`.`,
    required: ['id', 'type'],
    properties: {
      id: COMMON_INSTRUMENT_FIELDS.id,
      type: { enum: types.map((t) => t.type), description: 'Instrument type (driver).' },
    },
    allOf: types.map((t) => ({
      if: { properties: { type: { const: t.type } }, required: ['type'] },
      then: {
        description: t.description,
        required: [...t.required],
        properties: { id: true, type: true, ...t.fields },
        additionalProperties: false,
      },
    })),
  };
}

const storage: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  description: "Where and how this subsystem's data is stored.",
  properties: {
    enabled: { type: 'boolean', default: true, description: "Write this subsystem's data to the run directory." },
    flush_interval_ms: {
      type: 'integer',
      minimum: 10,
      maximum: 60000,
      default: 1000,
      description: 'Longest time between flushes to disk; data flushed survives a crash or kill -9.',
    },
  },
};

/** V4 sends its Arrow batches through a SharedArrayBuffer ring (V2 keeps its legacy postMessage). */
const ringFields: Record<string, JsonSchema> = {
  ring_bytes: {
    type: 'integer',
    minimum: 65536,
    maximum: 1073741824,
    default: 16777216,
    description: "Size of the V4 worker's SharedArrayBuffer ring to the broker, in bytes (a batch must fit in half of it).",
  },
  ring_policy: {
    enum: ['block', 'drop-newest', 'drop-oldest'],
    default: 'block',
    description:
      'When the ring is full: "block" (lossless: the worker waits up to ring_block_timeout_ms, then drops the batch and reports it), "drop-newest" or "drop-oldest" (for live views); every drop is counted.',
  },
  ring_block_timeout_ms: {
    type: 'integer',
    minimum: 1,
    maximum: 600000,
    default: 2000,
    description:
      'Longest a V4 worker waits for ring space under "block" before dropping the batch (counted and reported). The worker cannot answer heartbeats while it waits, so this must stay below [broker] heartbeat_timeout_ms.',
  },
  pvcam_library: {
    type: 'string',
    minLength: 1,
    default: 'libpvcam.so.2',
    description:
      'The PVCAM SDK library cameras are opened through (a name dlopen finds, or a path); unused when simulate = true.',
  },
};

/** Shadow mode: V4 runs its own driver beside V2 instruments, for comparison (V2's readings stay the ones used). */
const shadowSection: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  description:
    'Shadow mode: for each V2 instrument listed, V4 runs its own driver on the same hardware in parallel (the port is shared through leases). V2\'s readings stay the ones used (scalars.arrows); V4\'s are stored in shadow.arrows with subsystem "v4-shadow", and the two are compared in shadow.json.',
  properties: {
    instruments: {
      type: 'array',
      items: { type: 'string', minLength: 1 },
      uniqueItems: true,
      default: [],
      description: 'Ids of V2 instruments to shadow; each needs a V4 driver for its type.',
    },
    tolerance_ms: {
      type: 'number',
      exclusiveMinimum: 0,
      maximum: 600000,
      description:
        "Largest time between a V2 reading and the V4 reading it is paired with (nearest in time); unset: half the instrument's poll period.",
    },
    worst: {
      type: 'integer',
      minimum: 0,
      maximum: 1000,
      default: 5,
      description: 'Worst moments (largest differences) kept per channel in shadow.json.',
    },
    max_rel_diff: {
      type: 'number',
      minimum: 0,
      maximum: 1000,
      default: 0.01,
      description:
        'The verdict\'s tolerance: V4 agrees with V2 on a channel when the largest relative difference of its pairs, |V4 − V2| / |V2|, is at most this (0.01 = 1 %); the shadow dashboard and report show "V4 agrees" or "V4 differs" by it.',
    },
  },
};

function subsystemSchema(subsystem: SubsystemName): JsonSchema {
  return {
    type: 'object',
    additionalProperties: false,
    description: `The ${subsystem === 'v2' ? 'legacy V2' : 'V4'} subsystem.`,
    properties: {
      enabled: { type: 'boolean', default: true, description: 'Run this subsystem (a present section is enabled by default).' },
      instruments: {
        type: 'array',
        default: [],
        items: { $ref: `#/$defs/${subsystem}Instrument` },
        description: `The [[${subsystem}.instruments]] tables; see Instruments.`,
      },
      storage,
      restart: {
        enum: ['never', 'on-failure'],
        default: 'on-failure',
        description:
          'What the broker does when this subsystem\'s worker crashes (an exception, process.exit, or no heartbeat): "on-failure" restarts it after restart_backoff_ms (doubling each time) up to max_restarts times; "never" leaves it stopped. The other subsystem keeps running either way.',
      },
      max_restarts: {
        type: 'integer',
        minimum: 0,
        maximum: 1000,
        default: 3,
        description: 'Restarts allowed in one run before the subsystem is left stopped.',
      },
      restart_backoff_ms: {
        type: 'integer',
        minimum: 0,
        maximum: 600000,
        default: 1000,
        description: 'Wait before the first restart; doubled for each further restart, at most 60 s.',
      },
      batch_rows: {
        type: 'integer',
        minimum: 1,
        maximum: 1000000,
        default: 1000,
        description: 'Readings per batch sent to the broker (V4: rows per Arrow record batch).',
      },
      batch_interval_ms: {
        type: 'integer',
        minimum: 1,
        maximum: 60000,
        default: 100,
        description: 'Longest time a reading waits in the worker before its batch is sent.',
      },
      ...(subsystem === 'v4' ? { ...ringFields, shadow: shadowSection } : {}),
      ...(subsystem === 'v2'
        ? {
            allow_deprecated: {
              type: 'boolean',
              default: true,
              description:
                'Deprecated V2 instrument types (docs/migration.md#deprecation-batches) run with one warning per instrument naming its batch and the command that migrates it; false makes each of them an error instead, as when the batch is removed (an instrument listed in [v4.shadow] still only warns: it is being migrated).',
            },
          }
        : {}),
    },
  };
}

/** A subject token: no dots, wildcards or white space (NATS subjects are dot-separated tokens). */
const SUBJECT_TOKEN = '^[A-Za-z0-9_-]+$';

/** [application.publish]: runs published to NATS JetStream (docs/publishing.md). */
const publishSection: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['servers'],
  description:
    'Publish every run to NATS JetStream from a worker thread (docs/publishing.md). The run directory stays the source of truth: the publisher follows what has been flushed to disk and never slows the acquisition.',
  properties: {
    enabled: { type: 'boolean', default: true, description: 'false keeps the section but publishes nothing.' },
    servers: {
      type: 'array',
      minItems: 1,
      items: { type: 'string', pattern: '^(nats|tls)://[^\\s/@]+$' },
      description:
        'NATS servers, e.g. ["nats://daq-hub.lab:4222"]; the client fails over between them. No credentials in the URL: use token, user/password or nkey_seed (or DAQ_NATS_*).',
    },
    stream: {
      type: 'string',
      pattern: '^[A-Za-z0-9_-]+$',
      default: 'DAQ',
      description: 'The JetStream stream that holds the runs (created on first use when absent).',
    },
    subject_root: {
      type: 'string',
      pattern: SUBJECT_TOKEN,
      default: 'daq',
      description: 'First token of every subject: <subject_root>.<lab>.<host>.<run>.<kind>; the stream holds <subject_root>.>.',
    },
    lab: {
      type: 'string',
      pattern: SUBJECT_TOKEN,
      description: 'The lab in the subject prefix (default: [application] name, made a subject token).',
    },
    host: {
      type: 'string',
      pattern: SUBJECT_TOKEN,
      description: "The host in the subject prefix (default: this machine's hostname, made a subject token).",
    },
    replicas: {
      type: 'integer',
      minimum: 1,
      maximum: 5,
      default: 1,
      description: 'Replicas of the stream when the publisher creates it (3 on a three-node cluster).',
    },
    token: {
      type: 'string',
      minLength: 1,
      description: 'Token authentication (or env DAQ_NATS_TOKEN). Never logged; redacted in run.json.',
    },
    user: { type: 'string', minLength: 1, description: 'User for user/password authentication (or env DAQ_NATS_USER).' },
    password: {
      type: 'string',
      minLength: 1,
      description: 'Password (or env DAQ_NATS_PASSWORD). Never logged; redacted in run.json.',
    },
    nkey_seed: {
      type: 'string',
      minLength: 1,
      description: 'NKey seed (SU…) for nkey authentication (or env DAQ_NATS_NKEY_SEED). Never logged; redacted in run.json.',
    },
    tls_ca: {
      type: 'string',
      minLength: 1,
      description: 'PEM file of the certificate authority that signed the servers’ certificates.',
    },
    tls_cert: { type: 'string', minLength: 1, description: 'PEM client certificate (with tls_key) for mutual TLS.' },
    tls_key: { type: 'string', minLength: 1, description: 'PEM private key of tls_cert.' },
    drain_timeout_ms: {
      type: 'integer',
      minimum: 0,
      maximum: 600000,
      default: 10000,
      description:
        'At the end of a run, how long daq waits for the publisher to catch up before it exits; what is left is published by the next daq started with this data_dir.',
    },
    max_pending: {
      type: 'integer',
      minimum: 1,
      maximum: 10000,
      default: 64,
      description: 'Messages published and awaiting their JetStream acknowledgement at once.',
    },
    nice: {
      type: 'integer',
      minimum: 0,
      maximum: 19,
      default: 19,
      description:
        "The publisher thread's nice value: 19 (lowest priority) lets it use only CPU time the acquisition leaves, so publishing never slows acquiring; it catches up when the CPUs are free.",
    },
  },
};

export const configSchema: JsonSchema = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  $id: SCHEMA_ID,
  title: 'DAQ runtime configuration',
  description: 'One TOML file: [application], [broker], [v2] and [v4]. Generated from packages/core/src/config; do not edit.',
  type: 'object',
  additionalProperties: false,
  properties: {
    application: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        name: { type: 'string', minLength: 1, default: 'daq', description: 'Name of this set-up, recorded in every run.' },
        log_level: { enum: ['error', 'warn', 'info', 'debug', 'trace'], default: 'info', description: 'Logging threshold.' },
        data_dir: {
          type: 'string',
          minLength: 1,
          default: 'data',
          description: 'Directory that receives one run directory per run; relative to the working directory.',
        },
        simulate: {
          type: 'boolean',
          default: false,
          description: 'Start a simulator for every instrument instead of talking to hardware.',
        },
        metadata: {
          type: 'object',
          propertyNames: { pattern: '^[A-Za-z][A-Za-z0-9_-]*$' },
          additionalProperties: { type: ['string', 'number', 'boolean'] },
          description:
            'Metadata recorded in the run start document of every plan run (e.g. lab, operator, setup); plan files and --md add to it. Keys: letters, digits, "_" and "-"; values: strings, numbers or booleans.',
        },
        publish: publishSection,
      },
    },
    broker: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        visa_library: {
          type: 'string',
          minLength: 1,
          description:
            'Path of a VISA C library (NI-VISA libvisa.so, Keysight libiovisa.so, R&S librsvisa.so) for INSTR resources.',
        },
        serial_lease_timeout_ms: {
          type: 'integer',
          minimum: 0,
          maximum: 600000,
          default: 2000,
          description: 'How long a subsystem waits for a serial port held by another before giving up.',
        },
        visa_timeout_ms: {
          type: 'integer',
          minimum: 1,
          maximum: 600000,
          default: 2000,
          description: 'Default per-command VISA timeout.',
        },
        heartbeat_interval_ms: {
          type: 'integer',
          minimum: 10,
          maximum: 60000,
          default: 1000,
          description: 'How often the broker checks that each worker thread still answers.',
        },
        heartbeat_timeout_ms: {
          type: 'integer',
          minimum: 10,
          maximum: 600000,
          default: 5000,
          description:
            'A worker that has not answered a heartbeat for this long is declared unresponsive, terminated and reported.',
        },
        start_timeout_ms: {
          type: 'integer',
          minimum: 100,
          maximum: 600000,
          default: 30000,
          description: 'Longest a subsystem may take to start its worker and initialise its instruments.',
        },
        shutdown_timeout_ms: {
          type: 'integer',
          minimum: 0,
          maximum: 600000,
          default: 5000,
          description: 'Longest a subsystem may take to stop cleanly; after it the worker is terminated and that is reported.',
        },
        processing_threads: {
          type: 'integer',
          minimum: 1,
          maximum: 256,
          default: 1,
          description: 'Threads of the processing pool that computes per-frame statistics (frame_stats) for cameras.',
        },
      },
    },
    v2: subsystemSchema('v2'),
    v4: subsystemSchema('v4'),
  },
  $defs: {
    v2Instrument: instrumentSchema('v2'),
    v4Instrument: instrumentSchema('v4'),
  },
};

/** The schema file's exact text: what `schema/daq-config.schema.json` must contain. */
export function schemaFileText(): string {
  return `${JSON.stringify(configSchema, null, 2)}\n`;
}
