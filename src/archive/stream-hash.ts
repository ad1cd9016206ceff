/**
 * Hashing a stream on another core: chunks are copied (memcpy is ~10× faster than SHA-256)
 * into a ring of slots in one SharedArrayBuffer and hashed, in order, by one worker thread,
 * while the main thread goes on reading and writing. Used for large blobs in unpack, where
 * hashing on the main thread would serialise with the I/O. The ring is the back-pressure:
 * a copy waits for a free slot. No allocation per chunk, so no page faults either.
 * Measured here (2 shared cores, 1 GiB archive): SHA-256 is a third of unpack's CPU; on the
 * worker, unpack's wall time fell from 2.3–2.8 s to 2.0–2.3 s for +0.1 s of memcpy.
 */
import { Worker } from 'node:worker_threads';

const SLOTS = 16;
const SLOT_BYTES = 2 * 1024 * 1024;

// Plain CommonJS evaluated from a string, so it works from sources, dist/lib and the bundle.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const hashes = new Map();
let ring;
parentPort.on('message', (m) => {
  try {
    if (m.op === 'begin') hashes.set(m.id, createHash(m.algorithm));
    else if (m.op === 'ring') ring = m.ring;
    else if (m.op === 'data') {
      hashes.get(m.id).update(new Uint8Array(ring, m.slot * ${SLOT_BYTES}, m.length));
      parentPort.postMessage({ op: 'ack', slot: m.slot });
    } else if (m.op === 'end') {
      const h = hashes.get(m.id);
      hashes.delete(m.id);
      parentPort.postMessage({ op: 'digest', id: m.id, hex: h.digest('hex') });
    }
  } catch (e) {
    parentPort.postMessage({ op: 'error', id: m.id, message: String(e && e.message || e) });
  }
});
`;

interface WorkerMessage {
  op: 'ack' | 'digest' | 'error';
  id?: number;
  slot?: number;
  hex?: string;
  message?: string;
}

/** One stream being hashed by a {@link StreamHasher}. */
export interface StreamHash {
  /** Queue a chunk (copied; the caller may reuse `chunk` once this resolves). */
  update(chunk: Uint8Array): Promise<void>;
  /** The hex digest of everything queued. */
  digest(): Promise<string>;
}

/** A worker thread that hashes streams; started on first use, stopped by {@link StreamHasher.close}. */
export class StreamHasher {
  private worker: Worker | undefined;
  private nextId = 0;
  private ring: SharedArrayBuffer | undefined;
  private readonly free: number[] = Array.from({ length: SLOTS }, (_, i) => i);
  private roomWaiters: (() => void)[] = [];
  private readonly digests = new Map<
    number,
    { resolve: (hex: string) => void; reject: (e: Error) => void }
  >();
  private failure: Error | undefined;

  private start(): Worker {
    if (this.worker !== undefined) return this.worker;
    const worker = new Worker(WORKER_SOURCE, { eval: true });
    this.ring = new SharedArrayBuffer(SLOTS * SLOT_BYTES);
    worker.postMessage({ op: 'ring', ring: this.ring });
    worker.on('message', (m: WorkerMessage) => {
      if (m.op === 'ack') {
        this.free.push(m.slot ?? 0);
        this.roomWaiters.shift()?.();
      } else if (m.op === 'digest' && m.id !== undefined) {
        this.digests.get(m.id)?.resolve(m.hex ?? '');
        this.digests.delete(m.id);
      } else if (m.op === 'error') {
        this.fail(new Error(`hash worker: ${m.message ?? 'error'}`));
      }
    });
    worker.on('error', (e) => this.fail(e));
    worker.on('exit', (code) => this.fail(new Error(`hash worker exited with code ${code}`)));
    this.worker = worker;
    return worker;
  }

  private fail(e: Error): void {
    this.failure ??= e;
    for (const d of this.digests.values()) d.reject(e);
    this.digests.clear();
    for (const w of this.roomWaiters.splice(0)) w();
  }

  /** Start hashing a new stream with `algorithm` (`sha256`, `sha512`). */
  begin(algorithm: string): StreamHash {
    const worker = this.start();
    const id = this.nextId++;
    worker.postMessage({ op: 'begin', id, algorithm });
    return {
      update: async (chunk) => {
        for (let off = 0; off < chunk.length; off += SLOT_BYTES) {
          while (this.free.length === 0 && this.failure === undefined)
            await new Promise<void>((r) => this.roomWaiters.push(r));
          if (this.failure !== undefined) throw this.failure;
          const slot = this.free.pop() as number;
          const piece = chunk.subarray(off, Math.min(chunk.length, off + SLOT_BYTES));
          new Uint8Array(this.ring as SharedArrayBuffer, slot * SLOT_BYTES, piece.length).set(
            piece,
          );
          worker.postMessage({ op: 'data', id, slot, length: piece.length });
        }
      },
      digest: () =>
        new Promise<string>((resolve, reject) => {
          if (this.failure !== undefined) return reject(this.failure);
          this.digests.set(id, { resolve, reject });
          worker.postMessage({ op: 'end', id });
        }),
    };
  }

  /** Stop the worker (pending digests are rejected). */
  async close(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    if (w !== undefined) {
      this.fail(new Error('hash worker stopped'));
      await w.terminate();
    }
  }
}
