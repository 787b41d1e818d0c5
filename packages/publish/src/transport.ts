// The publisher and the collector talk to a streaming engine only through these two
// interfaces; nats.ts implements them for NATS JetStream. A Kafka backend would implement
// the same (a topic per stream, the message id as key with idempotent producers, offsets
// committed after the files are written).

import type { OutMessage } from './protocol.js';

export interface PublishAck {
  /** The stream's sequence number. */
  seq: number;
  /** The server had this message id already (a retry after a lost acknowledgement). */
  duplicate: boolean;
}

export interface PublishTransport {
  /** Connects and makes sure the stream exists; throws a DaqError that says what to do. */
  connect(): Promise<void>;
  /** Largest payload the server takes in one message. */
  readonly maxPayload: number;
  /** The server connected to now, if any. */
  readonly server: string | undefined;
  /** Publishes one message and resolves with the stream's acknowledgement. */
  publish(m: OutMessage, timeoutMs: number): Promise<PublishAck>;
  /** Connection events as they happen (disconnected, reconnected, errors). */
  onEvent(listener: (e: { type: string; detail?: string }) => void): void;
  close(): Promise<void>;
}

/** One message as the collector receives it. */
export interface InMessage {
  subject: string;
  headers: Map<string, string>;
  payload: Uint8Array;
  /** The stream's sequence number, and how often it was delivered. */
  seq: number;
  redelivered: number;
  ack(): void;
  /** Never redeliver (a message the collector refuses). */
  term(): void;
}

export interface CollectTransport {
  connect(): Promise<void>;
  /** Up to `max` messages, waiting at most `waitMs` for the first. */
  fetch(max: number, waitMs: number): Promise<InMessage[]>;
  /** Messages in the stream not yet acknowledged by this consumer. */
  pending(): Promise<number>;
  close(): Promise<void>;
}
