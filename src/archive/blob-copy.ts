/**
 * Large blobs of an uncompressed archive are extracted on worker threads: each job reads its
 * byte range of the archive (an open file descriptor, positional reads), hashes every chunk
 * and writes that same chunk to the new file, so the digest is of exactly the bytes written.
 * Meanwhile the main thread skips the range (the archive is seekable) and goes on parsing and
 * creating the small files. Measured here (2 shared cores, 1 GiB archive of 2,047 blobs):
 * SHA-256 costs as much CPU as tar's reads and writes together, and creating 2,000 small
 * files as much again; unpack keeps up with tar only when the two run on different cores.
 */
import { Worker } from 'node:worker_threads';

/**
 * Bytes read, hashed and written at a time. Small writes matter: with 1 MiB writes the page
 * cache takes large folios, from the high-order free memory a VM's balloon has handed back
 * to the host, and every first touch faults there (measured: unpack 2.1 s instead of 0.95 s
 * when it starts a few seconds after 1 GiB was deleted; tar, writing 10 KiB at a time, is
 * unaffected). 64 KiB also stays in the core's cache between the read, the hash and the
 * write. Writes on the thread pool (overlapping the next read and hash) were no faster.
 */
const CHUNK = 64 * 1024;

// Plain CommonJS evaluated from a string, so it works from sources, dist/lib and the bundle.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const { readSync, writeSync } = require('node:fs');
const buf = Buffer.allocUnsafeSlow(${CHUNK});
parentPort.on('message', (job) => {
  try {
    const hash = createHash(job.algorithm);
    let done = 0;
    while (done < job.length) {
      const n = readSync(job.input, buf, 0, Math.min(buf.length, job.length - done), job.offset + done);
      if (n === 0) {
        parentPort.postMessage({ id: job.id, short: job.length - done, at: job.offset + done });
        return;
      }
      const view = buf.subarray(0, n);
      hash.update(view);
      let w = 0;
      while (w < n) w += writeSync(job.output, view, w, n - w, done + w);
      done += n;
    }
    parentPort.postMessage({ id: job.id, hex: hash.digest('hex') });
  } catch (e) {
    parentPort.postMessage({ id: job.id, error: String((e && e.message) || e), code: e && e.code });
  }
});
`;

/** One blob to extract. */
export interface CopyJob {
  /** Descriptor of the archive file (read with positional reads only). */
  input: number;
  /** Where the blob's content starts in the archive, and its length. */
  offset: number;
  length: number;
  /** Descriptor of the new, empty file (written from position 0; not closed). */
  output: number;
  /** Hash algorithm (`sha256`, `sha512`). */
  algorithm: string;
}

/** How a job failed when the archive ended early (it shrank while being read). */
export class ShortRead extends Error {
  constructor(
    readonly missing: number,
    readonly at: number,
  ) {
    super(`the archive ends ${missing} bytes early, at byte ${at}`);
  }
}

interface Pending {
  resolve: (hex: string) => void;
  reject: (e: Error) => void;
  length: number;
}

interface Slot {
  worker: Worker;
  /** Bytes of the jobs queued on it. */
  queued: number;
  jobs: Map<number, Pending>;
}

/** Worker threads that run {@link CopyJob}s; started on demand, stopped by {@link CopyPool.close}. */
export class CopyPool {
  private readonly slots: Slot[] = [];
  private nextId = 0;
  private failure: Error | undefined;

  constructor(private readonly size: number) {}

  private spawn(): Slot {
    const worker = new Worker(WORKER_SOURCE, { eval: true });
    const slot: Slot = { worker, queued: 0, jobs: new Map() };
    worker.on(
      'message',
      (m: {
        id: number;
        hex?: string;
        error?: string;
        code?: string;
        short?: number;
        at?: number;
      }) => {
        const job = slot.jobs.get(m.id);
        if (job === undefined) return;
        slot.jobs.delete(m.id);
        slot.queued -= job.length;
        if (m.hex !== undefined) job.resolve(m.hex);
        else if (m.short !== undefined) job.reject(new ShortRead(m.short, m.at ?? 0));
        else job.reject(Object.assign(new Error(m.error ?? 'copy failed'), { code: m.code }));
      },
    );
    worker.on('error', (e) => {
      this.failure ??= e;
    });
    // Jobs are rejected only once the thread is gone: their descriptors may then be closed.
    worker.on('exit', (code) => {
      this.failure ??= new Error(`copy worker exited with code ${code}`);
      for (const job of slot.jobs.values()) job.reject(this.failure);
      slot.jobs.clear();
    });
    this.slots.push(slot);
    return slot;
  }

  /** Run `job` on the least busy worker; the blob's hex digest. */
  run(job: CopyJob): Promise<string> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    let slot = this.slots.find((s) => s.jobs.size === 0);
    if (slot === undefined && this.slots.length < this.size) slot = this.spawn();
    slot ??= this.slots.reduce((a, b) => (b.queued < a.queued ? b : a));
    const id = this.nextId++;
    const target = slot;
    return new Promise<string>((resolve, reject) => {
      target.jobs.set(id, { resolve, reject, length: job.length });
      target.queued += job.length;
      target.worker.postMessage({ id, ...job });
    });
  }

  /** Stop the workers; resolves once their threads are gone (pending jobs are rejected). */
  async close(): Promise<void> {
    this.failure ??= new Error('copy workers stopped');
    const slots = this.slots.splice(0);
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }
}
