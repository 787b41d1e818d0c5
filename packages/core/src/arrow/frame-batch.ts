// The V4 frame stream in Arrow form (DESIGN.md "Data"), laid out so that a frame crosses from the
// camera SDK's buffer to disk with a single copy:
// - one frame is one Arrow IPC record-batch message, written in place into the camera's ring: the
//   message head (metadata and the small columns) comes from a template made once per
//   acquisition, the pixels are the one copy, the timestamp and frame index are two stores;
// - every message starts at an address that is a multiple of FRAME_ALIGN and is a multiple of
//   FRAME_ALIGN long (the metadata is padded, which Arrow allows), so the storage sink can write it
//   from the ring to disk with O_DIRECT, and a frame file is the preamble plus the messages as
//   they are: a valid Arrow IPC stream any Arrow implementation reads.

import { Binary, Field, Message, MessageHeader, Schema, Uint16, Uint64, Uint8, makeData } from 'apache-arrow';
import type { FrameGeometry } from '../camera/frame-source.js';
import { DaqError } from '../errors.js';
import { dictionaryColumn, dictionaryField, ipcStream, numericColumn, recordBatch, timestampField } from './column-builders.js';
import { ipcMessages } from './ipc-messages.js';

/** timestamp, instrument, frame_index, width, height, bit_depth, pixels (little-endian uint16). */
export const FRAME_SCHEMA = new Schema([
  timestampField(),
  dictionaryField('instrument', 0),
  new Field('frame_index', new Uint64(), false),
  new Field('width', new Uint16(), false),
  new Field('height', new Uint16(), false),
  new Field('bit_depth', new Uint8(), false),
  new Field('pixels', new Binary(), false),
]);

/** Alignment (bytes) of every frame message in memory and in files: a disk block for O_DIRECT. */
export const FRAME_ALIGN = 4096;
/** A ring record: this prefix (uint32 offset of the message in the record, uint32 magic), then the message. */
export const FRAME_RECORD_PREFIX = 8;
const FRAME_RECORD_MAGIC = 0x4652414d; // 'FRAM'

// Buffer order of a record batch of FRAME_SCHEMA: validity + data per fixed-width column, then
// validity, offsets, data for `pixels`.
const BUFFER_TIMESTAMP = 1;
const BUFFER_FRAME_INDEX = 5;
const BUFFER_PIXELS = 14;

const alignUp = (n: number, a: number) => Math.ceil(n / a) * a;

/** Where things are in one frame's message; the same for every frame of an acquisition. */
export interface FrameLayout {
  readonly instrument: string;
  readonly geometry: FrameGeometry;
  /** Schema and dictionary messages, FRAME_ALIGN bytes long in all: the start of every frame file. */
  readonly preamble: Uint8Array;
  /** Bytes of one frame's message (a multiple of FRAME_ALIGN). */
  readonly messageBytes: number;
  /** The message up to the pixels, with timestamp and frame index 0: copied before each frame. */
  readonly head: Uint8Array;
  /** Offsets within the message of the timestamp (int64), the frame index (uint64) and the pixels. */
  readonly timestampAt: number;
  readonly frameIndexAt: number;
  readonly pixelsAt: number;
  /** Largest ring record one frame needs (prefix, alignment slack, message). */
  readonly recordBytes: number;
}

/** Re-frames an IPC message with its metadata padded to `metaLength` bytes (Arrow allows padding). */
function padMetadata(message: Uint8Array, metaLength: number): Uint8Array {
  const view = new DataView(message.buffer, message.byteOffset, message.byteLength);
  const oldMeta = view.getInt32(4, true);
  const body = message.subarray(8 + oldMeta);
  const out = new Uint8Array(8 + metaLength + body.byteLength);
  const o = new DataView(out.buffer);
  o.setUint32(0, 0xffffffff, true);
  o.setInt32(4, metaLength, true);
  out.set(message.subarray(8, 8 + oldMeta), 8);
  out.set(body, 8 + metaLength);
  return out;
}

/** The smallest metadata length (multiple of 8, not less than the current one) making the message a multiple of FRAME_ALIGN. */
function alignedMetaLength(message: Uint8Array, extra = 0): number {
  const view = new DataView(message.buffer, message.byteOffset, message.byteLength);
  const meta = view.getInt32(4, true);
  const rest = message.byteLength - meta + extra;
  return alignUp(rest + meta, FRAME_ALIGN) - rest;
}

/** Builds the layout of `instrument`'s frames of `geometry`. */
export function frameLayout(instrument: string, geometry: FrameGeometry): FrameLayout {
  const { width, height, bitDepth, frameBytes } = geometry;
  if (!(width > 0 && height > 0 && width <= 0xffff && height <= 0xffff) || frameBytes !== width * height * 2) {
    throw new DaqError(
      'DAQ_INVALID_ARGUMENT',
      `camera "${instrument}": frames of ${width}x${height} pixels need ${width * height * 2} bytes (uint16 pixels), not ${frameBytes}`,
      { instrument },
    );
  }
  const f = FRAME_SCHEMA.fields;
  const pixels = new Uint8Array(frameBytes);
  const batch = recordBatch(FRAME_SCHEMA, 1, [
    numericColumn(f[0]!.type, 1, new BigInt64Array(1)),
    dictionaryColumn(f[1]!.type, 1, new Int32Array(1), [instrument]),
    numericColumn(f[2]!.type, 1, new BigUint64Array(1)),
    numericColumn(f[3]!.type, 1, new Uint16Array([width])),
    numericColumn(f[4]!.type, 1, new Uint16Array([height])),
    numericColumn(f[5]!.type, 1, new Uint8Array([bitDepth])),
    makeData({ type: f[6]!.type as Binary, length: 1, valueOffsets: new Int32Array([0, frameBytes]), data: pixels }),
  ]);
  const stream = ipcStream(batch);
  const spans = ipcMessages(stream);
  const [schemaSpan, dictSpan, batchSpan] = spans;
  if (
    spans.length !== 3 ||
    schemaSpan!.type !== MessageHeader.Schema ||
    dictSpan!.type !== MessageHeader.DictionaryBatch ||
    batchSpan!.type !== MessageHeader.RecordBatch
  ) {
    throw new DaqError('DAQ_INVALID_ARGUMENT', `unexpected Arrow IPC layout for frames (${spans.map((s) => s.type).join(',')})`);
  }
  const schemaMsg = stream.subarray(schemaSpan!.start, schemaSpan!.end);
  const dictMsg = stream.subarray(dictSpan!.start, dictSpan!.end);
  const preamble = new Uint8Array(alignUp(schemaMsg.byteLength + dictMsg.byteLength, FRAME_ALIGN));
  const paddedSchema = padMetadata(schemaMsg, alignedMetaLength(schemaMsg, dictMsg.byteLength));
  preamble.set(paddedSchema, 0);
  preamble.set(dictMsg, paddedSchema.byteLength);

  const batchMsg = stream.subarray(batchSpan!.start, batchSpan!.end);
  const message = padMetadata(batchMsg, alignedMetaLength(batchMsg));
  const metaLength = new DataView(message.buffer).getInt32(4, true);
  const header = Message.decode(message.subarray(8, 8 + metaLength)).header() as {
    buffers: { offset: number; length: number }[];
  };
  const bodyAt = 8 + metaLength;
  const at = (i: number) => bodyAt + Number(header.buffers[i]!.offset);
  const pixelsAt = at(BUFFER_PIXELS);
  if (Number(header.buffers[BUFFER_PIXELS]!.length) !== frameBytes || pixelsAt % 8 !== 0) {
    throw new DaqError('DAQ_INVALID_ARGUMENT', `unexpected Arrow buffer layout for ${width}x${height} frames`);
  }
  return {
    instrument,
    geometry: { ...geometry },
    preamble,
    messageBytes: message.byteLength,
    head: message.slice(0, pixelsAt),
    timestampAt: at(BUFFER_TIMESTAMP),
    frameIndexAt: at(BUFFER_FRAME_INDEX),
    pixelsAt,
    recordBytes: FRAME_RECORD_PREFIX + FRAME_ALIGN + message.byteLength,
  };
}

/**
 * Writes one frame as a ring record into `record` (at least layout.recordBytes long), whose first
 * byte sits at memory address `address` (the camera worker learns it once per ring). Returns the
 * record's length to commit. The pixels are the one copy; `copy` is the fastest memcpy at hand.
 */
export function encodeFrameRecord(
  layout: FrameLayout,
  record: Uint8Array,
  address: bigint,
  pixels: Uint8Array,
  frameIndex: bigint,
  timestampNs: bigint,
  copy: (target: Uint8Array, source: Uint8Array, offset: number) => void,
): number {
  if (pixels.byteLength !== layout.geometry.frameBytes) {
    throw new DaqError(
      'DAQ_INVALID_ARGUMENT',
      `camera "${layout.instrument}": a frame of ${pixels.byteLength} bytes does not match ${layout.geometry.width}x${layout.geometry.height} (${layout.geometry.frameBytes} bytes)`,
      { instrument: layout.instrument },
    );
  }
  const misalign = Number((address + BigInt(FRAME_RECORD_PREFIX)) % BigInt(FRAME_ALIGN));
  const start = FRAME_RECORD_PREFIX + (misalign === 0 ? 0 : FRAME_ALIGN - misalign);
  const view = new DataView(record.buffer, record.byteOffset, start + layout.pixelsAt);
  view.setUint32(0, start, true);
  view.setUint32(4, FRAME_RECORD_MAGIC, true);
  record.set(layout.head, start);
  view.setBigInt64(start + layout.timestampAt, timestampNs, true);
  view.setBigUint64(start + layout.frameIndexAt, frameIndex, true);
  copy(record, pixels, start + layout.pixelsAt);
  const end = start + layout.messageBytes;
  record.fill(0, start + layout.pixelsAt + pixels.byteLength, end);
  return end;
}

/** A frame record as the consumer sees it: views into the ring, no copy. */
export interface FrameRecordView {
  /** The Arrow IPC message (a multiple of FRAME_ALIGN bytes). */
  message: Uint8Array;
  pixels: Uint8Array;
  frameIndex: bigint;
  timestampNs: bigint;
}

/** Reads a record written by encodeFrameRecord; a record that is not one is a DAQ_INVALID_ARGUMENT. */
export function decodeFrameRecord(layout: FrameLayout, record: Uint8Array): FrameRecordView {
  const view = new DataView(record.buffer, record.byteOffset, record.byteLength);
  const start = record.byteLength >= FRAME_RECORD_PREFIX ? view.getUint32(0, true) : -1;
  if (
    record.byteLength < FRAME_RECORD_PREFIX ||
    view.getUint32(4, true) !== FRAME_RECORD_MAGIC ||
    start + layout.messageBytes !== record.byteLength
  ) {
    throw new DaqError(
      'DAQ_INVALID_ARGUMENT',
      `camera "${layout.instrument}": a ring record of ${record.byteLength} bytes is not a frame of this acquisition`,
      { instrument: layout.instrument },
    );
  }
  return {
    message: record.subarray(start, start + layout.messageBytes),
    pixels: record.subarray(start + layout.pixelsAt, start + layout.pixelsAt + layout.geometry.frameBytes),
    frameIndex: view.getBigUint64(start + layout.frameIndexAt, true),
    timestampNs: view.getBigInt64(start + layout.timestampAt, true),
  };
}
