/**
 * Run prepareContexts as another user: the in-place/thin decision depends on who will run
 * buildx (root ignores file modes), so the compat tests run the same cases as root in-process
 * and as uid 65534 in a child node (setpriv). The child runs src/ops/context.ts bundled by esbuild
 * from the current sources (never a stale dist/), from a directory that user can read.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { build } from 'esbuild';
import type { PreparedContexts } from '../../src/ops/context.js';
import type { LayoutRef } from '../../src/layout/reference.js';
import { ROOT } from './cli.js';
import { AS_NOBODY } from './tools.js';

/** One prepareContexts call, in JSON: the version as text (undefined: unknown). */
export interface PrepareCase {
  requests: { name: string; ref: LayoutRef }[];
  options: { buildx?: string; out?: string; mode?: 'auto' | 'in-place' | 'thin' };
}

/** What a case gave: the prepared contexts, or the error's code and message. */
export type PrepareOutcome =
  { ok: PreparedContexts } | { error: { code: string; message: string } };

const ENTRY = `
import { readFileSync } from 'node:fs';
import { prepareContexts } from ${JSON.stringify(path.join(ROOT, 'src/ops/context.ts'))};
import { parseBuildxVersion } from ${JSON.stringify(path.join(ROOT, 'src/buildx/compat.ts'))};
const cases = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const out = [];
for (const c of cases) {
  const options = { ...c.options };
  if (c.options.buildx === undefined) delete options.buildx;
  else options.buildx = parseBuildxVersion(c.options.buildx);
  try {
    out.push({ ok: await prepareContexts(c.requests, options) });
  } catch (e) {
    out.push({ error: { code: e.code ?? 'UNCODED', message: e.message } });
  }
}
process.stdout.write(JSON.stringify(out));
`;

/**
 * Run the cases in order as uid 65534 (needs root and setpriv; see requireTool(t, 'setpriv')).
 * Paths in the cases must be traversable by that user.
 */
export async function prepareAsNobody(cases: readonly PrepareCase[]): Promise<PrepareOutcome[]> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ocikit-prepare-as-'));
  try {
    chmodSync(dir, 0o755);
    const script = path.join(dir, 'prepare.mjs');
    await build({
      stdin: { contents: ENTRY, resolveDir: ROOT, loader: 'ts' },
      outfile: script,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      logLevel: 'error',
      banner: {
        js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
      },
    });
    const input = path.join(dir, 'cases.json');
    writeFileSync(input, JSON.stringify(cases));
    chmodSync(script, 0o644);
    chmodSync(input, 0o644);
    const r = spawnSync(
      AS_NOBODY[0] as string,
      [...AS_NOBODY.slice(1), process.execPath, script, input],
      {
        cwd: '/',
        env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin' },
        encoding: 'utf8',
        maxBuffer: 64 << 20,
      },
    );
    if (r.status !== 0) {
      throw new Error(`prepare as uid 65534 exited ${r.status}: ${r.stderr}${r.error ?? ''}`);
    }
    return JSON.parse(r.stdout) as PrepareOutcome[];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
