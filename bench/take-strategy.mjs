#!/usr/bin/env node
// One way of taking every blob of some layouts into a new directory and checking its digest,
// for bench/archive.mjs to time against the other (same process start-up cost for both):
//   copy-then-hash  copyFile(COPYFILE_FICLONE) 8 at a time, then hash.ts's hashFiles over the
//                   copies (what src/take-blobs.ts does: a reflink where the file system can);
//   hash-while-copy read, hash and write in one pass on worker threads (src/archive/blob-copy.ts,
//                   the unpack copier), never a reflink.
//
//   node bench/take-strategy.mjs copy-then-hash|hash-while-copy OUT LAYOUT...
import { constants as fsc, mkdirSync, promises as fsp, readdirSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const lib = (m) => import(path.join(ROOT, 'dist', 'lib', m));
const [strategy, out, ...layouts] = process.argv.slice(2);

const blobs = new Map();
for (const dir of layouts) {
  const d = path.join(dir, 'blobs', 'sha256');
  for (const hex of readdirSync(d))
    if (!blobs.has(hex))
      blobs.set(hex, { hex, from: path.join(d, hex), size: statSync(path.join(d, hex)).size });
}
const jobs = [...blobs.values()];
const to = (j) => path.join(out, 'blobs', 'sha256', j.hex);
mkdirSync(path.join(out, 'blobs', 'sha256'), { recursive: true });
const { settledPool } = await lib('ops/pool.js');

if (strategy === 'copy-then-hash') {
  const { hashFiles } = await lib('layout/hash.js');
  await settledPool(jobs, 8, (j) =>
    fsp.copyFile(j.from, to(j), fsc.COPYFILE_FICLONE | fsc.COPYFILE_EXCL),
  );
  const results = await hashFiles(
    jobs.map((j) => ({ path: to(j), algorithm: 'sha256', size: j.size })),
  );
  results.forEach((r, i) => {
    if (r.hex !== jobs[i].hex) throw new Error(`${jobs[i].hex}: hashed ${r.hex ?? r.error}`);
  });
} else if (strategy === 'hash-while-copy') {
  const { CopyPool } = await lib('archive/blob-copy.js');
  const pool = new CopyPool(availableParallelism());
  try {
    await settledPool(jobs, 8, async (j) => {
      const input = await fsp.open(j.from, 'r');
      const output = await fsp.open(to(j), 'wx');
      try {
        const hex = await pool.run({
          input: input.fd,
          offset: 0,
          length: j.size,
          output: output.fd,
          algorithm: 'sha256',
        });
        if (hex !== j.hex) throw new Error(`${j.hex}: hashed ${hex}`);
      } finally {
        await input.close();
        await output.close();
      }
    });
  } finally {
    await pool.close();
  }
} else {
  throw new Error(`unknown strategy ${strategy}`);
}
