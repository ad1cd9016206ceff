/**
 * The layering, read from the imports: each folder of src/ may import only from folders below
 * it (and from itself). A newcomer can trust the tree:
 *
 *   cli/        argv, printing, exit codes              (the CLI)
 *   index.ts    the public library API                   (re-exports)
 *   ops/        operations: context, buildx-args, build, index, base check
 *   buildx/     what ocikit knows of buildx and BuildKit (versions, flags, streams)
 *   archive/    OCI archives: pack, unpack, the tar reader
 *   output/     the one output module (every write goes through it)
 *   layout/     the OCI layout engine: digest, media types, schema, open, platform, reference
 *               grammar, canonical JSON, the graph walk, resolve, verify, inspect, hashing
 *   errors.ts   the one error type
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { ROOT } from './helpers/cli.js';

const RANK: Record<string, number> = {
  'errors.ts': 0,
  layout: 1,
  output: 1,
  archive: 2,
  buildx: 2,
  ops: 3,
  'index.ts': 4,
  cli: 5,
};

function layerOf(rel: string): string {
  const [first] = rel.split('/');
  return first as string;
}

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = path.join(dir, n);
    return statSync(p).isDirectory() ? files(p) : n.endsWith('.ts') ? [p] : [];
  });
}

t.test('imports point down the layers', async (t) => {
  const src = path.join(ROOT, 'src');
  const bad: string[] = [];
  for (const file of files(src)) {
    const rel = path.relative(src, file);
    const from = layerOf(rel);
    t.ok(from in RANK, `${rel}: in a known layer (${Object.keys(RANK).join(', ')})`);
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)) {
      const target = path.relative(src, path.resolve(path.dirname(file), m[1] as string));
      const to = layerOf(target.replace(/\.js$/, '.ts'));
      if (to === from) continue;
      const ok = (RANK[to] ?? 99) < (RANK[from] ?? -1);
      if (!ok) bad.push(`${rel} imports ${target} (${from} -> ${to})`);
    }
  }
  t.same(bad, [], 'no import points up or sideways');
});

t.test('the library never imports yargs, never prints, never exits', async (t) => {
  const src = path.join(ROOT, 'src');
  for (const file of files(src)) {
    const rel = path.relative(src, file);
    if (rel.startsWith('cli/')) continue;
    const text = readFileSync(file, 'utf8');
    t.notMatch(text, /from 'yargs'/, `${rel}: no yargs`);
    t.notMatch(
      text,
      /process\.exit\(|console\.(log|error)\(|process\.std(out|err)\.write\(/,
      `${rel}: no printing or exiting`,
    );
  }
});

t.test('the public API exports what a library user needs, not internals', async (t) => {
  const api = await import('../src/index.js');
  for (const name of [
    'openLayout',
    'resolve',
    'verifyLayout',
    'inspectLayout',
    'prepareContexts',
    'buildxInvocation',
    'build',
    'mergeIndex',
    'packLayout',
    'unpackArchive',
    'OcikitError',
    'OutputSet',
    'walkGraph',
    'resolveLayoutRef',
  ])
    t.type((api as Record<string, unknown>)[name], 'function', name);
  for (const internal of [
    'pendingDir',
    'writeFileAtomic',
    'canonicalJson',
    'writeThinCopy',
    'RawJsonStream',
    'LOG_TAIL',
    'spawnRunner',
    'hashFiles',
    'Lenience',
    'extractLayoutArchive',
  ])
    t.notOk(internal in api, `${internal} is not exported`);
});
