// Stores one camera's frames as Arrow IPC stream files, straight from the camera's ring:
// - each frame's message is written from the ring's memory (no copy in JavaScript); messages are
//   block-aligned in memory and in length (core's frame-batch layout), so the file is opened with
//   O_DIRECT when the file system allows it: the page cache is bypassed, which on this class of
//   machine sustains about three times the throughput of buffered writes plus fdatasync;
// - several writes are in flight at once, each at its own file position, and a frame's message is
//   cut into writes of at most `writeBytes` (default 8 MiB), so one large frame keeps several
//   libuv threads busy instead of one (a 20 MB Kinetix frame: three writes); 8 MiB measured best
//   here against 4 MiB and whole frames (docs/performance.md);
// - each part file is preallocated (fallocate(2)) to its full size when it is opened (ahead of
//   need): O_DIRECT writes inside the file's size need no block allocation and no size update on
//   the way, which on ext4 is ~15 % faster here and lets them run in parallel. The unused tail is
//   cut off when the part ends; until then it reads as zeros, which an Arrow stream reader takes
//   for the end of the stream (a zero message length), so a part cut short by a crash still reads
//   to its last whole frame;
// - a part file ends before it would pass `chunkBytes`: each part is a complete stream (preamble,
//   frames, end-of-stream marker), so no file grows without bound;
// - durability as the scalar stream: fdatasync at least every flush interval; a frame counts as
//   stored once a sync after its write completed, and survives kill -9 from then on.

import { constants, promises as fs } from 'node:fs';
import { mkdir, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import koffi from 'koffi';
import { DaqError, FRAME_ALIGN, IPC_END_OF_STREAM, type FrameLayout } from '@daq/core';

export interface FrameFileSinkOptions {
  /** Largest part file in bytes before the next part begins (default 1 GiB). */
  chunkBytes?: number;
  /** fdatasync at least this often (ms). */
  flushIntervalMs: number;
  /** Try O_DIRECT (default true); falls back to buffered writes where the file system refuses it. */
  direct?: boolean;
  /** Frames being written at once (default 4). */
  maxInFlight?: number;
  /** Largest single write in bytes, a multiple of FRAME_ALIGN (default 8 MiB): a frame is cut into writes of at most this. */
  writeBytes?: number;
  /** Preallocate each part file to chunkBytes with fallocate(2) (default true; skipped where the file system cannot). */
  preallocate?: boolean;
}

export interface FrameFileStats {
  dir: string;
  files: string[];
  /** 'direct' (O_DIRECT) or 'buffered'. */
  mode: 'direct' | 'buffered';
  framesWritten: number;
  framesStored: number;
  bytesStored: number;
  writeErrors: number;
  lastError?: string;
}

type Libc = { fallocate: (fd: number, mode: number, offset: number, len: number) => number };
let libc: Libc | undefined;
function bindLibc(): Libc {
  libc ??= {
    fallocate: koffi.load('libc.so.6').func('int fallocate(int fd, int mode, int64_t offset, int64_t len)') as Libc['fallocate'],
  };
  return libc;
}

/**
 * Allocates `bytes` for the new, empty file (mode 0: its size becomes `bytes`). False where that
 * fails: no fallocate on this file system (EOPNOTSUPP), or not that much space left (ENOSPC), in
 * which case the writes allocate as they go and store what fits, as without preallocation.
 */
async function preallocate(file: FileHandle, bytes: number): Promise<boolean> {
  if (bindLibc().fallocate(file.fd, 0, 0, bytes) === 0) return true;
  await file.truncate(0); // whatever a failed fallocate left
  return false;
}

/** `length` zeroed bytes at a FRAME_ALIGN-aligned address (O_DIRECT needs aligned buffers). */
export function alignedBytes(length: number): Uint8Array {
  const raw = new Uint8Array(new ArrayBuffer(length + FRAME_ALIGN));
  const skip = (FRAME_ALIGN - Number((koffi.address(raw) as bigint) % BigInt(FRAME_ALIGN))) % FRAME_ALIGN;
  return raw.subarray(skip, skip + length);
}

/** A copy of `bytes` at a FRAME_ALIGN-aligned address. */
function aligned(bytes: Uint8Array): Uint8Array {
  const out = alignedBytes(bytes.byteLength);
  out.set(bytes);
  return out;
}

interface Part {
  path: string;
  file: FileHandle;
  /** Next write position. */
  size: number;
  /** Writes issued to this part and not yet finished. */
  pending: Set<Promise<void>>;
  /** Frames written to this part since its last sync. */
  unsynced: number;
  /** The part's syncs, one after another (a frame is counted stored by exactly one). */
  syncing: Promise<void>;
  /** Preallocated to chunkBytes: its size is set right when it ends. */
  preallocated: boolean;
}

export class FrameFileSink {
  readonly dir: string;
  readonly #layout: FrameLayout;
  readonly #chunkBytes: number;
  readonly #maxInFlight: number;
  readonly #writeBytes: number;
  readonly #preallocate: boolean;
  readonly #preamble: Uint8Array;
  #direct: boolean;
  #part: Part | undefined;
  /** The next part, opened ahead so that a rotation never waits for the file system. */
  #next: Promise<Part> | undefined;
  /** Parts being finished in the background (writes drained, end-of-stream, sync, close). */
  readonly #finishing = new Set<Promise<void>>();
  #partNo = 0;
  #files: string[] = [];
  #written = 0;
  #stored = 0;
  #bytesStored = 0;
  #errors = 0;
  #lastError: string | undefined;
  #timer: NodeJS.Timeout | undefined;
  #syncing: Promise<void> | undefined;
  #closed = false;
  /** Serialises part rotation and close with writes. */
  #rotating: Promise<void> | undefined;

  constructor(
    dir: string,
    layout: FrameLayout,
    readonly options: FrameFileSinkOptions,
  ) {
    this.dir = dir;
    this.#layout = layout;
    this.#chunkBytes = Math.max(options.chunkBytes ?? 2 ** 30, layout.preamble.byteLength + layout.messageBytes);
    this.#maxInFlight = options.maxInFlight ?? 4;
    const wb = options.writeBytes ?? 8 * 2 ** 20;
    this.#writeBytes = Math.max(FRAME_ALIGN, wb - (wb % FRAME_ALIGN));
    this.#preallocate = options.preallocate ?? true;
    this.#direct = options.direct ?? true;
    this.#preamble = aligned(layout.preamble);
  }

  async open(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    this.#part = await this.#openPart();
    this.#files.push(this.#part.path);
    this.#next = this.#openPart();
    this.#next.catch(() => undefined); // reported by the write that needs it
    this.#timer = setInterval(() => void this.sync().catch(() => undefined), this.options.flushIntervalMs);
  }

  get inFlight(): number {
    return this.#part?.pending.size ?? 0;
  }

  /** True while another write may be issued without waiting. */
  get ready(): boolean {
    return !this.#closed && this.inFlight < this.#maxInFlight && !this.#rotating;
  }

  /**
   * Writes one frame's message (a view into the ring; it must stay valid until the promise
   * settles). Rejects with DAQ_STORAGE; the frame is then counted as a write error, not stored.
   */
  async write(message: Uint8Array): Promise<void> {
    if (this.#closed) throw new DaqError('DAQ_CLOSED', `frame files of "${this.#layout.instrument}" are closed`);
    while (this.#rotating) await this.#rotating;
    let part = this.#part!;
    if (part.size + message.byteLength + IPC_END_OF_STREAM.byteLength > this.#chunkBytes) {
      this.#rotating = this.#rotate();
      await this.#rotating;
      this.#rotating = undefined;
      part = this.#part!;
    }
    const at = part.size;
    part.size += message.byteLength;
    const done = this.#writePieces(part.file, message, at).then(
      () => {
        this.#written++;
        part.unsynced++;
      },
      (e: unknown) => {
        this.#errors++;
        this.#lastError = `${part.path} at byte ${at}: ${(e as Error).message}`;
        throw new DaqError(
          'DAQ_STORAGE',
          `writing a frame of "${this.#layout.instrument}" to ${this.#lastError}; check the disk (space, permissions)`,
          {
            instrument: this.#layout.instrument,
            file: part.path,
          },
          { cause: e },
        );
      },
    );
    const tracked = done.catch(() => undefined);
    part.pending.add(tracked);
    void tracked.then(() => part.pending.delete(tracked));
    return done;
  }

  /** Writes `bytes` at `position` as several writes of at most writeBytes, all issued at once. */
  #writePieces(file: FileHandle, bytes: Uint8Array, position: number): Promise<void> {
    const n = bytes.byteLength;
    const step = this.#writeBytes;
    if (n <= step) return this.#writeAt(file, bytes, position);
    const pieces: Promise<void>[] = [];
    for (let off = 0; off < n; off += step)
      pieces.push(this.#writeAt(file, bytes.subarray(off, Math.min(n, off + step)), position + off));
    return Promise.all(pieces).then(() => undefined);
  }

  async #writeAt(file: FileHandle, bytes: Uint8Array, position: number): Promise<void> {
    let off = 0;
    while (off < bytes.byteLength) {
      const { bytesWritten } = await file.write(bytes, off, bytes.byteLength - off, position + off);
      if (bytesWritten <= 0) throw new Error(`write returned ${bytesWritten}`);
      off += bytesWritten;
    }
  }

  /** fdatasync the current part; every frame whose write had completed is then stored. */
  sync(): Promise<void> {
    this.#syncing ??= (async () => {
      try {
        const part = this.#part;
        if (part) await this.#syncPart(part);
      } finally {
        this.#syncing = undefined;
      }
    })();
    return this.#syncing;
  }

  #syncPart(part: Part): Promise<void> {
    part.syncing = part.syncing
      .catch(() => undefined)
      .then(async () => {
        const n = part.unsynced;
        await part.file.datasync();
        part.unsynced -= n;
        this.#stored += n;
        this.#bytesStored += n * this.#layout.messageBytes;
      });
    return part.syncing;
  }

  async #openPart(): Promise<Part> {
    const path = join(this.dir, `frames-${String(++this.#partNo).padStart(6, '0')}.arrows`);
    const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL;
    for (;;) {
      const direct = this.#direct;
      let file: FileHandle | undefined;
      try {
        file = await fs.open(path, flags | (direct ? constants.O_DIRECT : 0), 0o644);
        const preallocated = this.#preallocate && (await preallocate(file, this.#chunkBytes));
        await this.#writeAt(file, this.#preamble, 0);
        return {
          path,
          file,
          size: this.#preamble.byteLength,
          pending: new Set(),
          unsynced: 0,
          syncing: Promise.resolve(),
          preallocated,
        };
      } catch (e) {
        await file?.close();
        if (!direct) throw e;
        await fs.rm(path, { force: true });
        if ((e as NodeJS.ErrnoException).code !== 'EINVAL') throw e;
        // tmpfs and some network file systems refuse O_DIRECT (EINVAL): buffered writes instead.
        this.#direct = false;
      }
    }
  }

  /** Ends a part (its writes done, synced, end-of-stream appended, preallocated tail cut off, closed). */
  async #finishPart(part: Part): Promise<void> {
    await Promise.all(part.pending);
    await this.#syncPart(part);
    await part.file.close();
    // The 8-byte end-of-stream marker cannot go through O_DIRECT: append it with a buffered write.
    const tail = await fs.open(part.path, constants.O_WRONLY);
    try {
      await tail.write(IPC_END_OF_STREAM, 0, IPC_END_OF_STREAM.byteLength, part.size);
      if (part.preallocated) await tail.truncate(part.size + IPC_END_OF_STREAM.byteLength);
      await tail.datasync();
    } finally {
      await tail.close();
    }
  }

  /** Switches to the part opened ahead and finishes the full one in the background. */
  async #rotate(): Promise<void> {
    const full = this.#part!;
    this.#part = await this.#next!;
    this.#files.push(this.#part.path);
    this.#next = this.#openPart();
    this.#next.catch(() => undefined); // reported by the write that needs it
    const finishing = this.#finishPart(full).catch((e: unknown) => {
      this.#errors++;
      this.#lastError = `finishing ${full.path}: ${(e as Error).message}`;
    });
    this.#finishing.add(finishing);
    void finishing.then(() => this.#finishing.delete(finishing));
  }

  /** Waits for every write, ends the last part and stops syncing. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    while (this.#rotating) await this.#rotating;
    await Promise.all(this.#finishing);
    // The part opened ahead was never used: it goes.
    const next = await this.#next?.catch(() => undefined);
    if (next) {
      await next.file.close();
      await fs.rm(next.path, { force: true });
    }
    if (this.#part) await this.#finishPart(this.#part);
    this.#part = undefined;
  }

  get stats(): FrameFileStats {
    return {
      dir: this.dir,
      files: [...this.#files],
      mode: this.#direct ? 'direct' : 'buffered',
      framesWritten: this.#written,
      framesStored: this.#stored,
      bytesStored: this.#bytesStored,
      writeErrors: this.#errors,
      ...(this.#lastError ? { lastError: this.#lastError } : {}),
    };
  }
}
