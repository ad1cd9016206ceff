/**
 * Running the bundled CLI concurrently and looking at what a run left behind: the helpers of
 * the race, signal and environment-failure suites.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { BUNDLE, ROOT } from './cli.js';
import { CLEAN_ENV } from './tools.js';
import { LayoutBuilder, OCI_CONFIG, OCI_MANIFEST, tagged } from './layout-builder.js';
import type { Descriptor } from '../../src/layout/schema.js';

/** How a child run ended. */
export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Options of {@link runBundle}. */
export interface RunOptions {
  cwd?: string;
  /** Added to a minimal environment (PATH only): no NODE_OPTIONS from tap. */
  env?: Record<string, string>;
  /** Program and arguments put in front of node (setpriv, bash -c 'ulimit ...; exec "$@"'). */
  prefix?: string[];
  /** The bundle to run (default dist/ocikit.cjs; a world-readable copy for other users). */
  bundle?: string;
}

/**
 * Run `node dist/ocikit.cjs ...args` as a child process; resolves when it has exited. It starts
 * through `env -i` (see CLEAN_ENV): tap adds its NODE_OPTIONS hooks to every child it sees
 * spawned, which would change what the CLI opens (and so where ulimit -n bites).
 */
export function runBundle(args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const env = Object.entries(options.env ?? {}).map(([k, v]) => `${k}=${v}`);
  const argv = [
    ...CLEAN_ENV,
    ...env,
    ...(options.prefix ?? []),
    process.execPath,
    options.bundle ?? BUNDLE,
    ...args,
  ];
  return new Promise((resolve) => {
    const child = spawn(argv[0] as string, argv.slice(1), {
      cwd: options.cwd ?? ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', (e) => resolve({ code: -1, signal: null, stdout, stderr: String(e) }));
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** The `error.code` of a `--json` document on stdout, or undefined. */
export function jsonErrorCode(stdout: string): string | undefined {
  try {
    const doc = JSON.parse(stdout) as { error?: { code?: unknown } };
    return typeof doc.error?.code === 'string' ? doc.error.code : undefined;
  } catch {
    return undefined;
  }
}

/** Paths under `dir` (recursively, not following symlinks) whose name marks a temporary sibling. */
export function tempSiblings(dir: string): string[] {
  const found: string[] = [];
  const walk = (d: string): void => {
    let names: string[];
    try {
      names = readdirSync(d);
    } catch {
      return;
    }
    for (const name of names) {
      const abs = path.join(d, name);
      if (name.includes('.ocikit-tmp-')) found.push(abs);
      else if (lstatSync(abs).isDirectory()) walk(abs);
    }
  };
  walk(dir);
  return found.sort();
}

/** Deterministic, incompressible bytes (a sha256 counter stream). */
export function noise(seed: string, size: number): Buffer {
  const out = Buffer.alloc(size);
  for (let off = 0, n = 0; off < size; n++) {
    const block = createHash('sha256').update(`${seed}/${n}`).digest();
    off += block.copy(out, off);
  }
  return out;
}

/**
 * A one-image layout (tag `latest`, linux/amd64) of `blobs` small layers (~4 KiB) and, when
 * `bigBytes` > 0, one large layer: work for pack, unpack and index that takes a while.
 */
export function manyBlobLayout(
  dir: string,
  blobs: number,
  bigBytes = 0,
): { manifest: Descriptor; builder: LayoutBuilder } {
  const b = new LayoutBuilder(dir);
  const layerType = 'application/vnd.oci.image.layer.v1.tar';
  const layers: Descriptor[] = [];
  for (let i = 0; i < blobs; i++) layers.push(b.blob(noise(`layer-${i}`, 4096 + i), layerType));
  if (bigBytes > 0) layers.push(b.blob(noise(`big`, bigBytes), layerType));
  const config = b.json(
    {
      architecture: 'amd64',
      os: 'linux',
      config: {},
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) },
    },
    OCI_CONFIG,
  );
  const manifest = {
    ...b.json({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers }, OCI_MANIFEST),
    platform: { os: 'linux', architecture: 'amd64' },
  };
  b.writeIndex([tagged(manifest, 'latest')]);
  return { manifest, builder: b };
}
