// Splits an Arrow IPC stream into its messages (schema, dictionary batches, record batches),
// so one long-lived stream file can be appended to batch by batch: the schema and
// dictionaries once, then only record batches, then the end-of-stream marker.

import { Message, MessageHeader } from 'apache-arrow';
import { DaqError } from '../errors.js';

export interface IpcMessageSpan {
  type: MessageHeader;
  /** Byte range of the whole message (prefix, metadata, body) within the stream. */
  start: number;
  end: number;
}

/** The 8 bytes that end an IPC stream: continuation marker and a zero metadata length. */
export const IPC_END_OF_STREAM = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]);

/** Lists the messages of an IPC stream (stops at the end-of-stream marker or the end of the bytes). */
export function ipcMessages(bytes: Uint8Array): IpcMessageSpan[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: IpcMessageSpan[] = [];
  let o = 0;
  while (o + 4 <= bytes.byteLength) {
    let metaLength = view.getInt32(o, true);
    let metaStart = o + 4;
    if (metaLength === -1) {
      if (o + 8 > bytes.byteLength) break;
      metaLength = view.getInt32(o + 4, true);
      metaStart = o + 8;
    }
    if (metaLength === 0) break; // end of stream
    if (metaLength < 0 || metaStart + metaLength > bytes.byteLength)
      throw new DaqError(
        'DAQ_INVALID_ARGUMENT',
        `malformed Arrow IPC stream: message at byte ${o} has metadata length ${metaLength}`,
      );
    const message = Message.decode(bytes.subarray(metaStart, metaStart + metaLength));
    const end = metaStart + metaLength + Number(message.bodyLength);
    if (end > bytes.byteLength)
      throw new DaqError('DAQ_INVALID_ARGUMENT', `malformed Arrow IPC stream: message at byte ${o} runs past the end`);
    out.push({ type: message.headerType, start: o, end });
    o = end;
  }
  return out;
}
