// Coalesces the RPC messages one side posts in a turn of its event loop into one postMessage.
// Each postMessage between threads costs a structured clone, a wake-up of the other thread and
// a dispatch there; a worker polling many instruments fires their timers in one turn, and the
// broker answers the replies that arrived together in one turn. Batched, they cross once.
// Order is kept (a batch is unpacked in the order it was posted). Each side announces itself
// with an empty batch and sends batches only once the other side has announced itself, so a
// plain Comlink peer (a test, a benchmark client) still gets one message per call.

/** The endpoint shape Comlink uses (its node adapter returns one). */
export interface MessageEndpointLike {
  postMessage(message: unknown, transfer?: readonly unknown[]): void;
  addEventListener(type: string, listener: EndpointListener, options?: unknown): void;
  removeEventListener(type: string, listener: EndpointListener, options?: unknown): void;
  start?: () => void;
}

type EndpointListener = ((ev: { data: unknown }) => void) | { handleEvent(ev: { data: unknown }): void };

/** The key of a batch message: `{ "daq:batch": [message, …] }`. */
export const BATCH_KEY = 'daq:batch';

/** Counts of one batching endpoint, for tests and status. */
export interface BatchingCounts {
  /** Messages posted by this side. */
  messages: number;
  /** postMessage calls they took (one per batch or single message). */
  posts: number;
  /** Messages that could not be sent (not cloneable); the caller got an error instead. */
  failed: number;
  /** Whether the other side batches too (it announced itself), so batches may be sent to it. */
  peerBatches: boolean;
}

const REQUEST_TYPES = new Set(['GET', 'SET', 'APPLY', 'CONSTRUCT', 'ENDPOINT', 'RELEASE']);

function deliver(listener: EndpointListener, data: unknown): void {
  if (typeof listener === 'function') listener({ data });
  else listener.handleEvent({ data });
}

/** A Comlink "throw" reply for `id`, carrying `message`. */
function throwReply(id: unknown, message: string): unknown {
  return { id, type: 'HANDLER', name: 'throw', value: { isError: true, value: { name: 'DataCloneError', message } } };
}

/**
 * Wraps a Comlink endpoint (e.g. `nodeEndpoint(port)`); the result is the same kind of endpoint.
 * Typed structurally: Comlink's DOM-flavoured Endpoint type and MessageEndpointLike describe the
 * same object.
 */
export function batchingEndpoint<E extends object>(
  endpoint: E,
  label = 'RPC endpoint',
): E & { readonly batching: BatchingCounts } {
  const ep = endpoint as unknown as MessageEndpointLike;
  let queue: { message: unknown; transfer: readonly unknown[] }[] = [];
  let scheduled = false;
  const counts: BatchingCounts = { messages: 0, posts: 0, failed: 0, peerBatches: false };
  const wrapped = new Map<EndpointListener, EndpointListener>();

  /** A message that cannot be cloned: its caller gets a clear error instead of waiting forever. */
  const refuse = (msg: unknown, e: Error) => {
    counts.failed++;
    const m = msg as { id?: unknown; type?: unknown };
    const text = `${label}: cannot send ${typeof m?.type === 'string' ? m.type : 'a message'} across threads: ${e.message}`;
    if (m?.id === undefined) return process.emitWarning(text, { code: 'DAQ_INVALID_ARGUMENT' });
    // A request failed here: answer its caller on this side. A reply failed: tell the other side.
    if (typeof m.type === 'string' && REQUEST_TYPES.has(m.type))
      for (const l of wrapped.keys()) deliver(l, throwReply(m.id, text));
    else ep.postMessage(throwReply(m.id, text));
  };

  const sendEach = (batch: typeof queue) => {
    for (const { message, transfer } of batch) {
      try {
        ep.postMessage(message, transfer);
        counts.posts++;
      } catch (err) {
        refuse(message, err as Error);
      }
    }
  };

  const flush = () => {
    scheduled = false;
    const batch = queue;
    queue = [];
    if (!counts.peerBatches || batch.length === 1) return sendEach(batch);
    try {
      ep.postMessage(
        { [BATCH_KEY]: batch.map((b) => b.message) },
        batch.flatMap((b) => b.transfer),
      );
      counts.posts++;
    } catch {
      sendEach(batch); // a message in it cannot be cloned: the others go one by one
    }
  };

  const batched = Object.assign(Object.create(ep) as E, {
    batching: counts,
    postMessage(message: unknown, transfer: readonly unknown[] = []) {
      counts.messages++;
      queue.push({ message, transfer });
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    },
    addEventListener(type: string, listener: EndpointListener, options?: unknown) {
      const unpack: EndpointListener = (ev) => {
        const data = ev.data as Record<string, unknown> | null;
        const batch = data !== null && typeof data === 'object' ? data[BATCH_KEY] : undefined;
        if (Array.isArray(batch)) {
          counts.peerBatches = true;
          for (const m of batch) deliver(listener, m);
        } else deliver(listener, data);
      };
      wrapped.set(listener, unpack);
      ep.addEventListener(type, unpack, options);
    },
    removeEventListener(type: string, listener: EndpointListener, options?: unknown) {
      ep.removeEventListener(type, wrapped.get(listener) ?? listener, options);
      wrapped.delete(listener);
    },
    start: ep.start?.bind(ep),
  });
  ep.postMessage({ [BATCH_KEY]: [] }); // the announcement: this side understands batches
  return batched;
}
