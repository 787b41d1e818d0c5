// VISA resource names (VPP-4.3 "address strings"): ASRL, TCPIP INSTR/SOCKET, GPIB and USB.
// Case-insensitive, board defaults to 0, the `::INSTR` suffix is optional as in NI-VISA.

import { DaqError } from './errors.js';

interface Base {
  /** The name as written by the user. */
  input: string;
  /** Normalised form: upper-case interface and class, board and class made explicit. */
  canonical: string;
  board: number;
}

export interface AsrlResource extends Base {
  interface: 'ASRL';
  resourceClass: 'INSTR';
  /** Serial device path: `ASRL/dev/ttyUSB0::INSTR` → `/dev/ttyUSB0`; `ASRL3::INSTR` → `/dev/ttyS2`. */
  path: string;
}

export interface TcpipInstrResource extends Base {
  interface: 'TCPIP';
  resourceClass: 'INSTR';
  host: string;
  /** LAN device name, e.g. `inst0` (VXI-11) or `hislip0`; defaults to `inst0`. */
  deviceName: string;
}

export interface TcpipSocketResource extends Base {
  interface: 'TCPIP';
  resourceClass: 'SOCKET';
  host: string;
  port: number;
}

export interface GpibResource extends Base {
  interface: 'GPIB';
  resourceClass: 'INSTR';
  primary: number;
  secondary?: number;
}

export interface UsbResource extends Base {
  interface: 'USB';
  resourceClass: 'INSTR' | 'RAW';
  vendorId: number;
  productId: number;
  serial: string;
  usbInterface?: number;
}

export type VisaResource = AsrlResource | TcpipInstrResource | TcpipSocketResource | GpibResource | UsbResource;

const FORMS = {
  ASRL: 'ASRL[board]::INSTR or ASRL/dev/ttyUSB0::INSTR',
  TCPIP: 'TCPIP[board]::host[::device]::INSTR or TCPIP[board]::host::port::SOCKET',
  GPIB: 'GPIB[board]::primary[::secondary]::INSTR',
  USB: 'USB[board]::vendor::product::serial[::interface]::INSTR',
} as const;

class ResourceSyntaxError extends DaqError {
  constructor(input: string, reason: string) {
    super('DAQ_VISA_RESOURCE', `${JSON.stringify(input)} is not a VISA resource name: ${reason}`, { resource: input });
  }
}

const HOSTNAME =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
const IPV6 = /^\[[0-9A-Fa-f:.]+\]$/;

function isHost(host: string): boolean {
  const v4 = IPV4.exec(host);
  if (v4) return v4.slice(1).every((part) => Number(part) <= 255);
  return HOSTNAME.test(host) || IPV6.test(host);
}

function parseUInt(text: string, radixHex = false): number | undefined {
  if (radixHex && /^0x[0-9a-f]+$/i.test(text)) return parseInt(text.slice(2), 16);
  if (/^\d+$/.test(text)) return parseInt(text, 10);
  return undefined;
}

/** Splits on "::", keeping a bracketed IPv6 host such as `[::1]` in one piece. */
function splitFields(text: string): string[] {
  const close = text.startsWith('[') ? text.indexOf(']') : -1;
  if (close < 0) return text.split('::');
  const host = text.slice(0, close + 1);
  const after = text.slice(close + 1);
  return after === '' ? [host] : after.startsWith('::') ? [host, ...after.slice(2).split('::')] : [text];
}

/** Parses a VISA resource name, or throws a DaqError (`DAQ_VISA_RESOURCE`) that says what is wrong. */
export function parseVisaResource(input: string): VisaResource {
  const text = input.trim();
  if (text === '') throw new ResourceSyntaxError(input, 'it is empty');
  const head = /^(ASRL|TCPIP|GPIB|USB)(\d*)/i.exec(text);
  if (!head) {
    const iface = /^[A-Za-z]+/.exec(text)?.[0];
    throw new ResourceSyntaxError(
      input,
      iface
        ? `interface "${iface}" is not supported (use ASRL, TCPIP, GPIB or USB)`
        : 'it must start with an interface (ASRL, TCPIP, GPIB or USB)',
    );
  }
  const iface = head[1]!.toUpperCase() as keyof typeof FORMS;
  const board = head[2] ? parseInt(head[2], 10) : 0;
  const rest = text.slice(head[0].length);
  const fail = (reason: string): never => {
    throw new ResourceSyntaxError(input, `${reason} (expected ${FORMS[iface]})`);
  };

  if (iface === 'ASRL') {
    // `ASRL/dev/ttyUSB0::INSTR` (a device path, NI-VISA on Linux) or `ASRL3::INSTR`.
    const m = /^(\/[^:]*)?(?:::(\w+))?$/.exec(rest);
    if (!m) return fail('unexpected text after the board number');
    if (m[2] && m[2].toUpperCase() !== 'INSTR') return fail(`resource class "${m[2]}" is not valid for ASRL`);
    if (m[1]) {
      if (head[2]) return fail('give either a board number or a device path, not both');
      return { input, interface: 'ASRL', resourceClass: 'INSTR', board: 0, path: m[1], canonical: `ASRL${m[1]}::INSTR` };
    }
    if (!head[2]) return fail('the port number or device path is missing');
    if (board < 1) return fail('ASRL ports are numbered from 1');
    return {
      input,
      interface: 'ASRL',
      resourceClass: 'INSTR',
      board,
      path: `/dev/ttyS${board - 1}`,
      canonical: `ASRL${board}::INSTR`,
    };
  }

  if (!rest.startsWith('::')) return fail(rest === '' ? 'the address is missing' : `unexpected "${rest}" after ${iface}`);
  const parts = splitFields(rest.slice(2));
  if (parts[0] === '') return fail(iface === 'TCPIP' ? 'the host address is missing' : 'the address is missing');
  if (parts.some((p) => p === '')) return fail('an empty field between "::"');
  const last = parts[parts.length - 1]!.toUpperCase();
  const hasClass = last === 'INSTR' || last === 'SOCKET' || last === 'RAW' || last === 'INTFC';
  const cls = hasClass ? last : 'INSTR';
  const fields = hasClass ? parts.slice(0, -1) : parts;

  if (iface === 'TCPIP') {
    const host = fields[0];
    if (!host) return fail('the host address is missing');
    if (!isHost(host)) return fail(`"${host}" is not a host name or IP address`);
    if (cls === 'SOCKET') {
      if (fields.length !== 2) return fail('a SOCKET resource needs exactly a host and a port');
      const port = parseUInt(fields[1]!);
      if (port === undefined || port < 1 || port > 65535) return fail(`port "${fields[1]}" is not a number from 1 to 65535`);
      return {
        input,
        interface: 'TCPIP',
        resourceClass: 'SOCKET',
        board,
        host,
        port,
        canonical: `TCPIP${board}::${host}::${port}::SOCKET`,
      };
    }
    if (cls !== 'INSTR') return fail(`resource class "${last}" is not valid for TCPIP`);
    if (fields.length > 2) return fail('too many fields');
    const deviceName = fields[1] ?? 'inst0';
    if (!/^[A-Za-z][\w,.-]*$/.test(deviceName)) {
      return fail(
        /^\d+$/.test(deviceName)
          ? `"${deviceName}" looks like a port: a raw socket ends with ::SOCKET`
          : `"${deviceName}" is not a LAN device name`,
      );
    }
    return {
      input,
      interface: 'TCPIP',
      resourceClass: 'INSTR',
      board,
      host,
      deviceName,
      canonical: `TCPIP${board}::${host}::${deviceName}::INSTR`,
    };
  }

  if (iface === 'GPIB') {
    if (cls !== 'INSTR') return fail(`resource class "${last}" is not supported for GPIB`);
    if (fields.length < 1 || fields.length > 2) return fail('expected a primary and an optional secondary address');
    const primary = parseUInt(fields[0]!);
    if (primary === undefined || primary > 30) return fail(`primary address "${fields[0]}" is not 0-30`);
    let secondary: number | undefined;
    if (fields[1] !== undefined) {
      secondary = parseUInt(fields[1]);
      if (secondary === undefined || secondary > 30) return fail(`secondary address "${fields[1]}" is not 0-30`);
    }
    const sec = secondary === undefined ? '' : `::${secondary}`;
    return {
      input,
      interface: 'GPIB',
      resourceClass: 'INSTR',
      board,
      primary,
      ...(secondary === undefined ? {} : { secondary }),
      canonical: `GPIB${board}::${primary}${sec}::INSTR`,
    };
  }

  // USB
  if (cls !== 'INSTR' && cls !== 'RAW') return fail(`resource class "${last}" is not valid for USB`);
  if (fields.length < 3 || fields.length > 4)
    return fail('expected vendor id, product id, serial number and an optional interface');
  const vendorId = parseUInt(fields[0]!, true);
  const productId = parseUInt(fields[1]!, true);
  if (vendorId === undefined || vendorId > 0xffff) return fail(`vendor id "${fields[0]}" is not a 16-bit number`);
  if (productId === undefined || productId > 0xffff) return fail(`product id "${fields[1]}" is not a 16-bit number`);
  const serial = fields[2]!;
  let usbInterface: number | undefined;
  if (fields[3] !== undefined) {
    usbInterface = parseUInt(fields[3]);
    if (usbInterface === undefined || usbInterface > 255) return fail(`interface number "${fields[3]}" is not 0-255`);
  }
  const hex = (n: number) => `0x${n.toString(16).toUpperCase().padStart(4, '0')}`;
  const intf = usbInterface === undefined ? '' : `::${usbInterface}`;
  return {
    input,
    interface: 'USB',
    resourceClass: cls,
    board,
    vendorId,
    productId,
    serial,
    ...(usbInterface === undefined ? {} : { usbInterface }),
    canonical: `USB${board}::${hex(vendorId)}::${hex(productId)}::${serial}${intf}::${cls}`,
  };
}

/** True when `input` parses; use parseVisaResource to learn why not. */
export function isVisaResource(input: string): boolean {
  try {
    parseVisaResource(input);
    return true;
  } catch {
    return false;
  }
}
