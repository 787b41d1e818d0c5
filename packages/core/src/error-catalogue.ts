// The error catalogue: every DaqError code, what it means, the facts it carries and what the
// user should do. One entry per code (the type below makes a missing one a compile error);
// docs/errors.md is generated from it (`npm run schema`), and a table-driven test goes over
// every code.

import type { ConfigDiagnostic, ErrorCode } from './errors.js';

/**
 * Where something happened: the hardware handle, the caller, the instrument. (Type aliases,
 * not interfaces, so each code's facts are also an ErrorFacts bag.)
 */
type Place = {
  /** Serial port path. */
  port?: string;
  /** Lease or queue owner, `v2:<instrument>` / `v4:<instrument>`. */
  owner?: string;
  /** VISA resource name. */
  resource?: string;
  instrument?: string;
};

/** The facts each code carries (all plain data, so they cross threads). */
export interface ErrorFactsByCode {
  DAQ_CONFIG: { file?: string; line?: number; column?: number; instrument?: string; diagnostics?: ConfigDiagnostic[] };
  DAQ_CONFIG_READ: { file: string };
  DAQ_VISA_RESOURCE: { resource: string };
  DAQ_INVALID_ARGUMENT: Place & {
    command?: string;
    camera?: string;
    path?: string;
    ring?: string;
    [detail: string]: unknown;
  };
  DAQ_PORT_BUSY: Place & { heldMs?: number };
  DAQ_PORT_UNKNOWN: Place;
  DAQ_PORT_ERROR: Place;
  DAQ_LEASE_TIMEOUT: Place & { heldMs?: number; waitedMs?: number };
  DAQ_LEASE_REVOKED: Place & { heldMs?: number };
  DAQ_LEASE_RELEASED: Place & { lease?: number };
  DAQ_READ_TIMEOUT: Place & { waitedMs?: number; received?: number };
  DAQ_VISA_TIMEOUT: Place & {
    command?: string;
    timeoutMs?: number;
    waitedMs?: number;
    library?: string;
    operation?: string;
    status?: number;
    statusHex?: string;
  };
  DAQ_VISA_ERROR: Place & {
    library?: string;
    command?: string;
    status?: number;
    statusHex?: string;
    operation?: string;
    timeoutMs?: number;
  };
  DAQ_INSTRUMENT: Place & {
    command?: string;
    reply?: string;
    status?: string | number;
    errorCode?: number;
    axis?: number;
    nm?: number;
    where?: string;
    subsystem?: string;
    instruments?: string[];
  };
  DAQ_CLOSED: Place & { ring?: string };
  DAQ_ABORTED: Place & { ring?: string };
  DAQ_RING_FULL: {
    ring: string;
    recordBytes?: number;
    capacity?: number;
    bytesInUse?: number;
    waitedMs?: number;
    policy?: string;
  };
  DAQ_WORKER: Place & {
    subsystem?: string;
    entry?: string;
    specifier?: string;
    path?: string;
    cause?: string;
    threads?: number;
    maxQueue?: number;
  };
  DAQ_UNKNOWN_INSTRUMENT: { instrument: string };
  DAQ_UNKNOWN_COMMAND: { instrument: string; command: string };
  DAQ_TIMEOUT: Place & { command?: string; what?: string; subsystem?: string };
  DAQ_CAMERA: {
    instrument?: string;
    camera?: string;
    cameras?: string[];
    library?: string;
    source?: string;
    compiler?: string;
    pvcamFunction?: string;
    pvcamCode?: number;
    errorCode?: number;
  };
  DAQ_STORAGE: { instrument?: string; file?: string };
  /** The daemon's HTTP status for the refusal, the request (method and path, never its query: it may hold a token). */
  DAQ_API: { status: number; method?: string; path?: string; [detail: string]: unknown };
  DAQ_BUSY: { instrument?: string; item?: string; state?: string };
  /** The servers tried; for one message: the stream, the file in the run directory and the byte offset (or version). */
  DAQ_PUBLISH_UNREACHABLE: { servers?: string; stream?: string; file?: string; position?: number };
  DAQ_PUBLISH_AUTH: { servers: string; auth: true };
  DAQ_PUBLISH_REFUSED: { stream: string; file?: string; position?: number; bytes?: number; apiCode?: number; replicas?: number };
}

export interface CatalogueEntry {
  /** What happened, in one sentence. */
  meaning: string;
  /** What the user should do. */
  action: string;
  /** Where it comes from. */
  raisedBy: string;
}

export const ERROR_CATALOGUE: Readonly<Record<ErrorCode, CatalogueEntry>> = {
  DAQ_CONFIG: {
    meaning: 'The configuration file is invalid: a key, a value or a combination of instruments is not allowed.',
    action: 'Fix the file at the line and column given (`daq validate <file>` lists every problem at once).',
    raisedBy: 'config loading and validation, daq validate, daq migrate',
  },
  DAQ_CONFIG_READ: {
    meaning: 'The configuration file could not be read (missing, unreadable, not UTF-8).',
    action: 'Check the path and the file permissions.',
    raisedBy: 'loadConfig, every daq command that takes a file',
  },
  DAQ_VISA_RESOURCE: {
    meaning: 'A VISA resource name is malformed or of a kind the runtime cannot open.',
    action:
      'Write it as VISA does: ASRL/dev/ttyUSB0::INSTR, TCPIP0::host::5025::SOCKET, TCPIP0::host::INSTR, GPIB0::12::INSTR, USB0::…::INSTR.',
    raisedBy: 'parseVisaResource, the VISA session manager',
  },
  DAQ_INVALID_ARGUMENT: {
    meaning: 'A call was given an argument it refuses (a command argument out of range, a bad option); nothing was sent.',
    action: 'Correct the argument; the message names the limit and, for commands, what the instrument accepts.',
    raisedBy: 'command argument checks, drivers, rings, cameras, options of every class',
  },
  DAQ_PORT_BUSY: {
    meaning: 'A serial port is held by another lease owner and the caller asked not to wait.',
    action: 'Retry later, or wait for the lease (leaseSerial instead of tryLeaseSerial).',
    raisedBy: 'SerialPortPool.tryLease',
  },
  DAQ_PORT_UNKNOWN: {
    meaning: 'A serial port that is not in the configuration was asked for.',
    action: "Add the instrument that uses it to the configuration, or correct the driver's port.",
    raisedBy: 'SerialPortPool, the broker endpoint',
  },
  DAQ_PORT_ERROR: {
    meaning: 'The operating system refused to open, write or configure a serial port, or the device vanished.',
    action:
      'Check the device path (ls -l /dev/serial/by-id), permissions (the dialout group) and the cable; the runtime reopens the port when it is back.',
    raisedBy: 'SerialPortPool, SerialLease, the simulators',
  },
  DAQ_LEASE_TIMEOUT: {
    meaning: 'A worker waited longer than the lease timeout for a serial port another owner holds.',
    action:
      'Find the holder in the message (a long move holds an Elliptec bus); raise [broker] serial_lease_timeout_ms or lower the poll rates.',
    raisedBy: 'SerialPortPool.lease',
  },
  DAQ_LEASE_REVOKED: {
    meaning: 'A lease was taken back from its holder: it held the port past its maximum hold time, or its worker stopped.',
    action: 'Shorten the exchange or raise its maxHoldMs; after a worker crash nothing is needed (the port is released).',
    raisedBy: 'SerialLease',
  },
  DAQ_LEASE_RELEASED: {
    meaning: 'A lease was used after it was released (a driver bug).',
    action: 'Report it with the message: the driver must not keep a lease past its transaction.',
    raisedBy: 'SerialLease, the broker endpoint',
  },
  DAQ_READ_TIMEOUT: {
    meaning: 'A serial instrument did not answer a command within its timeout_ms.',
    action:
      'Check that the instrument is on, its address and baud rate, and the cable; a slow instrument needs a larger timeout_ms.',
    raisedBy: 'SerialLease.readUntil, every serial driver',
  },
  DAQ_VISA_TIMEOUT: {
    meaning: 'A VISA instrument did not answer within the command timeout, or a command waited too long in the queue.',
    action: 'Check that the command is a query and the instrument is reachable; raise the timeout for slow measurements.',
    raisedBy: 'VisaSessionManager and its backends',
  },
  DAQ_VISA_ERROR: {
    meaning: 'The VISA library or the connection reported an error (connection lost, library status code).',
    action: 'Read the status in the message; a lost connection is reopened by the next command.',
    raisedBy: 'VisaSessionManager, the socket and FFI backends',
  },
  DAQ_INSTRUMENT: {
    meaning:
      'An instrument answered, but not as its protocol allows, or refused a command (an error code, a reply of the wrong form).',
    action:
      'Read the reply and the command in the message; check that the instrument is the configured type and in a usable state.',
    raisedBy: 'every driver',
  },
  DAQ_CLOSED: {
    meaning: 'The pool, ring, session or worker an operation needed has closed (the run is stopping).',
    action: 'Nothing if the run is stopping; otherwise the message says what closed and why.',
    raisedBy: 'SerialPortPool, VisaSessionManager, rings, workers',
  },
  DAQ_ABORTED: {
    meaning: 'An operation was cancelled by its caller (an AbortSignal) before it finished.',
    action: 'Nothing: the caller asked for it.',
    raisedBy: 'leases, reads, rings',
  },
  DAQ_RING_FULL: {
    meaning: 'A ring buffer had no room for a record within its block timeout (ring_policy "block").',
    action: 'The consumer is too slow: lower the rate, enlarge the ring, or choose a dropping policy for this stream.',
    raisedBy: 'RingWriter (the V4 and camera rings)',
  },
  DAQ_WORKER: {
    meaning: 'A worker thread failed, exited, or could not be started; what it had queued failed with it.',
    action: 'Read the cause; a crashed subsystem is restarted by its supervisor, and run.json lists the crash.',
    raisedBy: 'the subsystem supervisors, the processing pool, the broker endpoint',
  },
  DAQ_UNKNOWN_INSTRUMENT: {
    meaning: 'A command named an instrument that is not configured.',
    action: 'Use an id from the configuration (daq validate prints them).',
    raisedBy: 'DualRuntimeManager.command, the subsystem hosts',
  },
  DAQ_UNKNOWN_COMMAND: {
    meaning: 'A command name the instrument does not have.',
    action: 'Use one of the names the message lists (with a did-you-mean).',
    raisedBy: 'invokeCommand',
  },
  DAQ_TIMEOUT: {
    meaning: 'An operation with a deadline did not finish in time (a move, a worker start or stop).',
    action: 'The message says which deadline; raise it in the configuration if the device is slow, else check the device.',
    raisedBy: 'drivers (moves, homing), the supervisors (start and stop deadlines)',
  },
  DAQ_CAMERA: {
    meaning: 'The camera library or a camera failed (not found, not loadable, an SDK error).',
    action: 'Check [v4] pvcam_library, the camera name, cable and power; the message gives the SDK function and error.',
    raisedBy: 'the PVCAM driver, the camera workers',
  },
  DAQ_STORAGE: {
    meaning: 'Writing the run directory failed (disk full, vanished, not writable).',
    action: 'Free space or choose another data_dir; what was flushed before is intact.',
    raisedBy: 'the storage sinks',
  },
  DAQ_API: {
    meaning:
      "The daemon refused a request: a body or parameter that does not match the route's schema, a missing or wrong token, a Host or Origin that is not the daemon's, an unknown route, queue item or run.",
    action:
      'Read the message: it names the field, the route or the check; the OpenAPI document (GET /api/openapi.json) gives every route and body. Pass the token as Authorization: Bearer <token>.',
    raisedBy: 'daq serve (the server worker)',
  },
  DAQ_BUSY: {
    meaning:
      'Not now: the instrument is moving (a command or a running plan holds it), or the queue or plan is in a state that does not allow the request.',
    action: 'Wait for the move or the plan to end, or pause or stop the plan first; GET /api/status shows what holds it.',
    raisedBy: 'daq serve (commands during a move, queue and run control)',
  },
  DAQ_PUBLISH_UNREACHABLE: {
    meaning:
      'The NATS server could not be reached, or a message got no acknowledgement in time. The acquisition is not affected: the run stays on disk and the publisher retries, and catches up when the server is back (also after daq is restarted).',
    action:
      'Check that nats-server runs at the configured servers and that the port is open; watch the publisher state in the progress line, run.json (publish) or daq inspect.',
    raisedBy: 'the publisher worker ([application.publish]); daq collect',
  },
  DAQ_PUBLISH_AUTH: {
    meaning: 'The NATS server refused the credentials (token, user and password, or nkey).',
    action:
      'Fix token, user/password or nkey_seed in [application.publish], or DAQ_NATS_TOKEN, DAQ_NATS_USER, DAQ_NATS_PASSWORD, DAQ_NATS_NKEY_SEED in the environment. Nothing is lost meanwhile: runs stay on disk and are published once the credentials work.',
    raisedBy: 'the publisher worker; daq collect',
  },
  DAQ_PUBLISH_REFUSED: {
    meaning:
      "JetStream refused a message or the stream: the message exceeds the stream's max_msg_size or the server's max_payload, the stream is full, does not take the subjects, or cannot be created (e.g. more replicas than servers).",
    action:
      "Change the stream (nats stream edit: --max-msg-size, --max-bytes, --subjects) or [application.publish] (stream, replicas). The run's publishing resumes from the refused message once the stream accepts it.",
    raisedBy: 'the publisher worker; daq collect (a stream that does not exist)',
  },
};

/** The catalogue as a Markdown page (docs/errors.md). */
export function errorCatalogueMarkdown(): string {
  const out = [
    '# Error codes',
    '',
    'Every error the runtime raises is a `DaqError` with one of these codes. Its message says what',
    'happened, where (port, resource, instrument, file:line) and what to do; its `facts` carry the',
    'same as data. Generated from `packages/core/src/error-catalogue.ts` by `npm run schema`.',
    '',
    '| code | meaning | what to do | raised by |',
    '| ---- | ------- | ---------- | --------- |',
  ];
  for (const [code, e] of Object.entries(ERROR_CATALOGUE))
    out.push(`| \`${code}\` | ${e.meaning} | ${e.action.replace(/\|/g, '\\|')} | ${e.raisedBy} |`);
  return `${out.join('\n')}\n`;
}
