/**
 * "Never writes to an input", for every command and every output flag. test/readonly.ts proves
 * the reading commands in depth; this file covers everything that writes.
 *
 * 1. Commands × output flags, through the BUNDLED CLI: resolve, inspect, verify (--json-out);
 *    context (--out, --json-out); buildx-args (--out, --args-file, --json-out); build (--out DIR
 *    and FILE.tar, --json-out; the scripted docker of test/build.ts); index, pack, unpack
 *    (--out, --json-out); successes and failures. Each on (a) a read-only bind mount, as root,
 *    (b) a 0555/0444 tree, as uid 65534, (c) a writable tree, as root, under inotify: the inputs
 *    come out identical (snapshot, atimes) with no inotify event, each run's result is the
 *    expected one, exactly the promised outputs exist (after a failure: only --json-out, with
 *    the error), and nothing is left beside them or in TMPDIR.
 * 2. Placement: every output flag of every command placed equal to / inside / above / through a
 *    symlink into / via `..` into / through a dangling symlink into every input the command reads
 *    (the layouts, the archive, the build context directory, the Dockerfile, --config, and what
 *    --config names; each index source) → exit 1, OCIKIT_OUT_INSIDE_INPUT, and nothing created
 *    anywhere: not in the inputs, not in the parents of the attempted output, not where the
 *    run's other outputs would have gone (only --json-out, holding the error), not in TMPDIR.
 *    The table is a corpus, run in-process through the exported parser; a sample of it goes
 *    through the bundle for the exit-code and stream contract. Outputs overlapping each other
 *    → OCIKIT_OUT_INVALID, before any work.
 * 3. All or nothing: when --json-out or --args-file cannot be written (a full tmpfs), no other
 *    output is left; of 16 concurrent runs writing the same output exactly one wins.
 */
import t from 'tap';
import {
  chmodSync,
  chownSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import os, { availableParallelism } from 'node:os';
import path from 'node:path';
import { openLayout } from '../src/layout/layout.js';
import { packLayout } from '../src/archive/pack.js';
import { parseLayoutRef } from '../src/layout/reference.js';
import { prepareContexts } from '../src/ops/context.js';
import { mergeIndex } from '../src/ops/index-merge.js';
import { OutputSet } from '../src/output/outputs.js';
import { BUNDLE, ROOT, bundled, cli, pool, type CliResult, type Runner } from './helpers/cli.js';
import { LayoutBuilder, standardLayout, tagged, tarOf } from './helpers/layout-builder.js';
import { Mounts, cleanStaleMounts, mountsInOurTestdirs, ourMountPoints } from './helpers/mounts.js';
import {
  AS_NOBODY,
  NOBODY,
  prerequisiteProblem,
  privateTestdir,
  requireTool,
  runTool,
} from './helpers/tools.js';
import { UNCHANGED, observe, snapshotTree, walkTree } from './helpers/tree.js';

type Test = Parameters<Parameters<typeof t.test>[0]>[0];

const FAKE_DOCKER = path.join(ROOT, 'test/fixtures/fake-docker.mjs');
/** Child processes at a time (each CLI run is one node process, a build two or more). */
const PROCESSES = Math.max(2, availableParallelism() * 2);
/** In-process runs at a time (they interleave on one event loop). */
const IN_PROCESS = 16;
const BUILDX = ['--buildx-version', '0.13.1'];

cleanStaleMounts((m) => t.comment(m));

t.before(() => {
  if (!existsSync(BUNDLE)) throw new Error(`${BUNDLE} is missing: run npm run build first`);
});

// ---------------------------------------------------------------------------------------------
// The inputs: every kind of thing a command reads, each in a holder directory of its own (the
// holder is "above" it; holder/sub is where a symlink-then-`..` path goes through).

type InputName =
  'layout' | 'layout2' | 'archive' | 'ctx' | 'df' | 'config' | 'configb' | 'broken' | 'bad';

/** Paths relative to the inputs root, which is every CLI run's cwd. */
const REL: Record<InputName, string> = {
  layout: 'layout-h/layout',
  layout2: 'layout2-h/layout',
  archive: 'archive-h/image.tar',
  ctx: 'ctx-h/ctx',
  df: 'df-h/Dockerfile.app',
  config: 'config-h/config.json',
  configb: 'configb-h/config.json',
  broken: 'broken-h/layout',
  bad: 'bad-h/bad.tar',
};
const DIR_INPUTS: ReadonlySet<InputName> = new Set(['layout', 'layout2', 'ctx', 'broken']);

const LABEL: Record<InputName, string> = {
  layout: 'the layout',
  layout2: 'the second index source',
  archive: 'the archive',
  ctx: 'the build context directory',
  df: 'the Dockerfile (-f)',
  config: 'the --config file',
  configb: 'the --config file',
  broken: 'the broken layout',
  bad: 'the hostile archive',
};

/** The same input named through --config instead of the command line. */
const VIA_CONFIG: Partial<Record<InputName, string>> = {
  layout: 'the layout (buildContext in --config)',
  archive: 'the archive (buildContext in --config)',
  ctx: 'the build context directory ("context" in --config)',
  df: 'the Dockerfile ("file" in --config)',
};

const CONTEXTS = [
  '--build-context',
  `base=${REL.layout}:multi`,
  '--build-context',
  `arch=${REL.archive}:single`,
];

interface Digests {
  multi: string;
  single: string;
  arm: string;
  /** The index the scripted docker "builds". */
  product: string;
}

/** Write the inputs under `root`, the scripted build result under `product`. */
async function makeInputs(root: string, product: string): Promise<Digests> {
  const at = (n: InputName): string => path.join(root, REL[n]);
  for (const n of Object.keys(REL) as InputName[])
    mkdirSync(path.join(path.dirname(at(n)), 'sub'), { recursive: true });
  const s = standardLayout(at('layout'));
  // With ingest/ present buildx 0.13.1 leaves a digest-pinned layout alone: in place is then
  // safe everywhere, and thin copies are made for the archive and with --mode thin.
  mkdirSync(path.join(at('layout'), 'ingest'));
  const b2 = new LayoutBuilder(at('layout2'));
  const arm = b2.image({
    platform: { os: 'linux', architecture: 'arm64' },
    layers: [{ 'arm.txt': 'arm\n' }],
  });
  b2.writeIndex([tagged(arm, 'arm')]);
  await packLayout(await openLayout(at('layout')), at('archive'));
  mkdirSync(at('ctx'));
  writeFileSync(path.join(at('ctx'), 'hello.txt'), 'hi\n');
  writeFileSync(
    at('df'),
    'FROM arch AS unpacked\nFROM base\nCOPY --from=unpacked /a.txt /\nCOPY hello.txt /\n',
  );
  writeFileSync(at('config'), JSON.stringify({ label: { 'org.example.proof': 'never-write' } }));
  writeFileSync(
    at('configb'),
    JSON.stringify({
      buildContext: [`base=${REL.layout}:multi`, `arch=${REL.archive}:single`],
      file: REL.df,
      context: REL.ctx,
      label: { 'org.example.proof': 'never-write' },
    }),
  );
  const broken = standardLayout(at('broken'));
  rmSync(path.join(at('broken'), 'blobs', ...broken.amd64.digest.split(':')));
  writeFileSync(
    at('bad'),
    tarOf({ 'oci-layout': '{"imageLayoutVersion":"1.0.0"}', '../escape.txt': 'x\n' }),
  );
  // What the scripted docker "builds": an index of linux/amd64 and linux/arm64.
  const b = new LayoutBuilder(product);
  const amd = b.image({
    platform: { os: 'linux', architecture: 'amd64' },
    layers: [{ 'hello.txt': 'hi\n' }],
  });
  const armp = b.image({ platform: { os: 'linux', architecture: 'arm64' }, layers: [] });
  const idx = b.index([amd, armp]);
  b.writeIndex([tagged(idx, 'latest')]);
  return { multi: s.multi.digest, single: s.single.digest, arm: arm.digest, product: idx.digest };
}

// ---------------------------------------------------------------------------------------------
// Small checks.

/** Every path under `dir` (relative, sorted), symlinks not followed; [] when `dir` is missing. */
function listTree(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  walkTree(dir, (abs) => {
    if (abs !== dir) out.push(path.relative(dir, abs));
  });
  return out.sort();
}

function readJson(file: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

function parseDoc(text: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

interface ErrorDoc {
  code?: string;
  relation?: string;
  other?: string;
}

function errorOf(doc: Record<string, unknown> | undefined): ErrorDoc | undefined {
  return doc?.['error'] as ErrorDoc | undefined;
}

/** 'ok', or the error code of a run: from --json on stdout, else as told on stderr. */
function codeOf(r: CliResult): string {
  if (r.code === 0) return 'ok';
  return (
    errorOf(parseDoc(r.stdout))?.code ??
    /^ocikit: error (OCIKIT_[A-Z_]+): /m.exec(r.stderr)?.[1] ??
    `exit ${r.code}`
  );
}

// ---------------------------------------------------------------------------------------------
// 1. Every command × output flag, through the bundle, in three worlds.

interface World {
  /** The inputs as the CLI reaches them (its cwd). */
  IN: string;
  /** Where each run's outputs go (OUT/<run>/...). */
  OUT: string;
  TMP: string;
  fake: string;
  product: string;
  digests: Digests;
}

interface Run {
  name: string;
  args: (o: (name: string) => string, w: World) => string[];
  env?: Record<string, string>;
  code: 0 | 1;
  /** What exists in the run's output directory afterwards; nothing else may. */
  outputs: string[];
  check?: (t: Test, r: CliResult, o: (name: string) => string, w: World, what: string) => void;
}

const BUILD_HEAD = (w: World, preflight = false): string[] => [
  'build',
  '--docker',
  w.fake,
  ...BUILDX,
  '--progress',
  'quiet',
  ...(preflight ? [] : ['--no-preflight']),
  '--platform',
  'linux/amd64,linux/arm64',
];

function errorIs(code: string, file: string) {
  return (t: Test, _r: CliResult, o: (name: string) => string, _w: World, what: string): void =>
    void t.equal(errorOf(readJson(o(file)))?.code, code, `${what}: ${file} holds error ${code}`);
}

const RUNS: Run[] = [
  {
    name: 'resolve --json-out',
    args: (o) => ['resolve', REL.layout, '--tag', 'multi', '--json-out', o('r.json')],
    code: 0,
    outputs: ['r.json'],
    check: (t, r, o, w, what) => {
      t.equal(r.stdout, '', `${what}: nothing on stdout`);
      const d = readJson(o('r.json'))?.['descriptor'] as { digest?: string } | undefined;
      t.equal(d?.digest, w.digests.multi, `${what}: the digest`);
    },
  },
  {
    name: 'resolve --json-out, tag not found',
    args: (o) => ['resolve', REL.layout, '--tag', 'nope', '--json-out', o('r.json')],
    code: 1,
    outputs: ['r.json'],
    check: errorIs('OCIKIT_TAG_NOT_FOUND', 'r.json'),
  },
  {
    name: 'inspect --json-out',
    args: (o) => ['inspect', REL.layout, '--json-out', o('i.json')],
    code: 0,
    outputs: ['i.json'],
    check: (t, _r, o, _w, what) => {
      const images = readJson(o('i.json'))?.['images'] as { tags: string[] }[] | undefined;
      t.same(images?.map((i) => i.tags).flat(), ['multi', 'single'], `${what}: the tags`);
    },
  },
  {
    name: 'verify --json-out',
    args: (o) => ['verify', REL.layout, '--json-out', o('v.json')],
    code: 0,
    outputs: ['v.json'],
    check: (t, _r, o, _w, what) => t.equal(readJson(o('v.json'))?.['ok'], true, `${what}: ok`),
  },
  {
    name: 'verify --json-out, a blob missing',
    args: (o) => ['verify', REL.broken, '--json-out', o('v.json')],
    code: 1,
    outputs: ['v.json'],
    check: (t, _r, o, _w, what) => {
      const doc = readJson(o('v.json'));
      t.equal(doc?.['ok'], false, `${what}: not ok`);
      t.same(
        (doc?.['problems'] as { code: string }[] | undefined)?.map((p) => p.code),
        ['OCIKIT_BLOB_MISSING'],
        `${what}: the problem`,
      );
    },
  },
  {
    name: 'context --out (a layout in place, an archive unpacked)',
    args: (o) =>
      ['context', `base=${REL.layout}:multi`, `arch=${REL.archive}:single`, ...BUILDX].concat([
        '--out',
        o('ctx'),
      ]),
    code: 0,
    outputs: ['ctx'],
    check: (t, r, o, w, what) => {
      t.match(
        r.stdout,
        `base=oci-layout://${path.join(w.IN, REL.layout)}:multi@${w.digests.multi}\n`,
        `${what}: base in place`,
      );
      t.match(r.stdout, `arch=oci-layout://${o('ctx')}/`, `${what}: arch under --out`);
      t.ok(existsSync(path.join(o('ctx'), 'arch', 'index.json')), `${what}: arch unpacked`);
    },
  },
  {
    name: 'context --json-out (in place)',
    args: (o) => ['context', `base=${REL.layout}:multi`, ...BUILDX, '--json-out', o('c.json')],
    code: 0,
    outputs: ['c.json'],
    check: (t, _r, o, _w, what) =>
      t.match(
        readJson(o('c.json')),
        { contexts: [{ name: 'base', strategy: 'in-place' }] },
        `${what}: in place`,
      ),
  },
  {
    name: 'context --mode thin --out --json-out',
    args: (o) => [
      'context',
      `base=${REL.layout}:multi`,
      `arch=${REL.archive}:single`,
      ...BUILDX,
      '--mode',
      'thin',
      '--out',
      o('ctx'),
      '--json-out',
      o('c.json'),
    ],
    code: 0,
    outputs: ['c.json', 'ctx'],
    check: (t, _r, o, _w, what) => {
      t.match(
        readJson(o('c.json')),
        { contexts: [{ strategy: 'thin' }, { strategy: 'thin' }] },
        `${what}: thin`,
      );
      t.same(readdirSync(o('ctx')).sort(), ['arch', 'base'], `${what}: both copies`);
    },
  },
  {
    name: 'context --out --json-out, tag not found after an archive was unpacked',
    args: (o) => [
      'context',
      `arch=${REL.archive}:single`,
      `base=${REL.layout}:nope`,
      ...BUILDX,
      '--out',
      o('ctx'),
      '--json-out',
      o('c.json'),
    ],
    code: 1,
    outputs: ['c.json'],
    check: errorIs('OCIKIT_TAG_NOT_FOUND', 'c.json'),
  },
  {
    name: 'buildx-args --out',
    args: (o) => [
      'buildx-args',
      ...CONTEXTS,
      '-f',
      REL.df,
      '--config',
      REL.config,
      ...BUILDX,
      '--out',
      o('ctx'),
      REL.ctx,
    ],
    code: 0,
    outputs: ['ctx'],
    check: (t, r, o, _w, what) => {
      const argv = parseDoc(r.stdout) as unknown as string[] | undefined;
      t.equal(argv?.[0], 'docker', `${what}: the argv on stdout`);
      t.ok(
        argv?.some((a) => a.startsWith(`arch=oci-layout://${o('ctx')}/`)),
        `${what}: arch under --out`,
      );
    },
  },
  {
    name: 'buildx-args --args-file',
    args: (o) => [
      'buildx-args',
      ...CONTEXTS.slice(0, 2),
      '-f',
      REL.df,
      '--config',
      REL.config,
      ...BUILDX,
      '--args-file',
      o('args.json'),
      REL.ctx,
    ],
    code: 0,
    outputs: ['args.json'],
    check: (t, r, o, _w, what) => {
      t.equal(r.stdout, '', `${what}: nothing on stdout`);
      t.equal((readJson(o('args.json')) as unknown as string[])?.[0], 'docker', `${what}: argv`);
    },
  },
  {
    name: 'buildx-args --json-out',
    args: (o) => [
      'buildx-args',
      ...CONTEXTS.slice(0, 2),
      '-f',
      REL.df,
      ...BUILDX,
      '--json-out',
      o('x.json'),
      REL.ctx,
    ],
    code: 0,
    outputs: ['x.json'],
    check: (t, _r, o, _w, what) =>
      t.match(readJson(o('x.json')), { argv: ['docker'] }, `${what}: argv`),
  },
  {
    name: 'buildx-args --mode thin --out --args-file --json-out',
    args: (o) => [
      'buildx-args',
      ...CONTEXTS,
      '-f',
      REL.df,
      '--config',
      REL.config,
      ...BUILDX,
      '--mode',
      'thin',
      '--out',
      o('ctx'),
      '--args-file',
      o('args.json'),
      '--json-out',
      o('x.json'),
      REL.ctx,
    ],
    code: 0,
    outputs: ['args.json', 'ctx', 'x.json'],
    check: (t, _r, o, _w, what) => {
      t.same(readdirSync(o('ctx')).sort(), ['arch', 'base'], `${what}: both copies`);
      t.match(
        readJson(o('x.json')),
        { argv: ['docker'] },
        `${what}: --json-out holds the document`,
      );
      t.ok(Array.isArray(readJson(o('args.json'))), `${what}: --args-file holds the argv`);
    },
  },
  {
    name: 'buildx-args --out --args-file --json-out, tag not found',
    args: (o) => [
      'buildx-args',
      '--build-context',
      `arch=${REL.archive}:single`,
      '--build-context',
      `base=${REL.layout}:nope`,
      ...BUILDX,
      '--out',
      o('ctx'),
      '--args-file',
      o('args.json'),
      '--json-out',
      o('x.json'),
      REL.ctx,
    ],
    code: 1,
    outputs: ['x.json'],
    check: errorIs('OCIKIT_TAG_NOT_FOUND', 'x.json'),
  },
  {
    name: 'buildx-args, everything in --config, --out --json-out',
    args: (o) => [
      'buildx-args',
      '--config',
      REL.configb,
      ...BUILDX,
      '--out',
      o('ctx'),
      '--json-out',
      o('x.json'),
    ],
    code: 0,
    outputs: ['ctx', 'x.json'],
    check: (t, _r, o, _w, what) =>
      t.match(
        readJson(o('x.json')),
        { contexts: [{ name: 'base' }, { name: 'arch', strategy: 'thin' }] },
        `${what}: contexts`,
      ),
  },
  {
    name: 'build --out DIR (with preflight)',
    args: (o, w) => [
      ...BUILD_HEAD(w, true),
      ...CONTEXTS,
      '-f',
      REL.df,
      '--config',
      REL.config,
      '--out',
      o('result'),
      REL.ctx,
    ],
    code: 0,
    outputs: ['result'],
    check: (t, r, o, w, what) => {
      t.equal(r.stdout, `${w.digests.product}\n`, `${what}: the digest`);
      t.match(
        readJson(path.join(o('result'), 'index.json')),
        { manifests: [{ digest: w.digests.product }] },
        `${what}: the layout`,
      );
    },
  },
  {
    name: 'build --out FILE.tar',
    args: (o, w) => [
      ...BUILD_HEAD(w),
      ...CONTEXTS,
      '-f',
      REL.df,
      '--config',
      REL.config,
      '--out',
      o('image.tar'),
      REL.ctx,
    ],
    code: 0,
    outputs: ['image.tar'],
    check: (t, _r, o, _w, what) =>
      t.ok(lstatSync(o('image.tar')).size > 1024, `${what}: a tarball`),
  },
  {
    name: 'build --out DIR --json-out',
    args: (o, w) => [
      ...BUILD_HEAD(w),
      ...CONTEXTS,
      '-f',
      REL.df,
      '--out',
      o('result'),
      '--json-out',
      o('b.json'),
      REL.ctx,
    ],
    code: 0,
    outputs: ['b.json', 'result'],
    check: (t, _r, o, w, what) =>
      t.match(
        readJson(o('b.json')),
        { ok: true, format: 'layout', digest: w.digests.product },
        `${what}: summary`,
      ),
  },
  {
    name: 'build --out FILE.tar --json-out',
    args: (o, w) => [
      ...BUILD_HEAD(w),
      ...CONTEXTS,
      '-f',
      REL.df,
      '--out',
      o('image.tar'),
      '--json-out',
      o('b.json'),
      REL.ctx,
    ],
    code: 0,
    outputs: ['b.json', 'image.tar'],
    check: (t, _r, o, w, what) =>
      t.match(
        readJson(o('b.json')),
        { ok: true, format: 'tar', digest: w.digests.product },
        `${what}: summary`,
      ),
  },
  {
    name: 'build --out DIR --json-out, the solve fails',
    args: (o, w) => [
      ...BUILD_HEAD(w),
      ...CONTEXTS,
      '-f',
      REL.df,
      '--out',
      o('result'),
      '--json-out',
      o('b.json'),
      REL.ctx,
    ],
    env: { FAKE_MODE: 'solve-fail' },
    code: 1,
    outputs: ['b.json'],
    check: errorIs('OCIKIT_SOLVE_FAILED', 'b.json'),
  },
  {
    name: 'build, everything in --config, --out DIR --json-out',
    args: (o, w) => [
      ...BUILD_HEAD(w),
      '--config',
      REL.configb,
      '--out',
      o('result'),
      '--json-out',
      o('b.json'),
    ],
    code: 0,
    outputs: ['b.json', 'result'],
    check: (t, _r, o, w, what) =>
      t.match(readJson(o('b.json')), { ok: true, digest: w.digests.product }, `${what}: summary`),
  },
  {
    name: 'index --out',
    args: (o) => ['index', `${REL.layout}:single`, `${REL.layout2}:arm`, '--out', o('idx')],
    code: 0,
    outputs: ['idx'],
    check: (t, _r, o, _w, what) =>
      t.ok(existsSync(path.join(o('idx'), 'index.json')), `${what}: a layout`),
  },
  {
    name: 'index --out --json-out',
    args: (o) => [
      'index',
      `${REL.layout}:single`,
      `${REL.layout2}:arm`,
      '--out',
      o('idx'),
      '--json-out',
      o('n.json'),
    ],
    code: 0,
    outputs: ['idx', 'n.json'],
    check: (t, _r, o, w, what) =>
      t.same(
        (readJson(o('n.json'))?.['manifests'] as { digest: string }[] | undefined)?.map(
          (m) => m.digest,
        ),
        [w.digests.single, w.digests.arm],
        `${what}: both manifests`,
      ),
  },
  {
    name: 'index --out --json-out, tag not found',
    args: (o) => [
      'index',
      `${REL.layout2}:arm`,
      // (a layout with one manifest resolves any tag to it, as buildx does)
      `${REL.layout}:nope`,
      '--out',
      o('idx'),
      '--json-out',
      o('n.json'),
    ],
    code: 1,
    outputs: ['n.json'],
    check: errorIs('OCIKIT_TAG_NOT_FOUND', 'n.json'),
  },
  {
    name: 'pack --out',
    args: (o) => ['pack', REL.layout, '--out', o('l.tar')],
    code: 0,
    outputs: ['l.tar'],
    check: (t, r, o, _w, what) => t.equal(r.stdout, `${o('l.tar')}\n`, `${what}: the path`),
  },
  {
    name: 'pack --out --json-out',
    args: (o) => ['pack', REL.layout, '--gzip', '--out', o('l.tar'), '--json-out', o('p.json')],
    code: 0,
    outputs: ['l.tar', 'p.json'],
    check: (t, _r, o, _w, what) =>
      t.match(readJson(o('p.json')), { blobs: Number }, `${what}: summary`),
  },
  {
    name: 'pack --out --json-out, a blob missing',
    args: (o) => ['pack', REL.broken, '--out', o('l.tar'), '--json-out', o('p.json')],
    code: 1,
    outputs: ['p.json'],
    check: errorIs('OCIKIT_BLOB_MISSING', 'p.json'),
  },
  {
    name: 'unpack --out',
    args: (o) => ['unpack', REL.archive, '--out', o('l')],
    code: 0,
    outputs: ['l'],
    check: (t, _r, o, _w, what) =>
      t.ok(existsSync(path.join(o('l'), 'index.json')), `${what}: a layout`),
  },
  {
    name: 'unpack --out --json-out',
    args: (o) => ['unpack', REL.archive, '--out', o('l'), '--json-out', o('u.json')],
    code: 0,
    outputs: ['l', 'u.json'],
    check: (t, _r, o, _w, what) =>
      t.match(readJson(o('u.json')), { blobs: Number }, `${what}: summary`),
  },
  {
    name: 'unpack --out --json-out, a hostile archive',
    args: (o) => ['unpack', REL.bad, '--out', o('l'), '--json-out', o('u.json')],
    code: 1,
    outputs: ['u.json'],
    check: errorIs('OCIKIT_ARCHIVE_PATH_UNSAFE', 'u.json'),
  },
];

/**
 * Run every command line (in parallel), then assert per run: the exit code, exactly the
 * promised outputs, the result; and that TMPDIR is empty.
 */
async function runAll(t: Test, run: Runner, w: World, owner?: number): Promise<void> {
  const dirs = RUNS.map((_r, i) => path.join(w.OUT, `run${i}`));
  for (const d of dirs) {
    mkdirSync(d);
    if (owner !== undefined) chownSync(d, owner, owner);
  }
  const env = (r: Run): Record<string, string> => ({
    TMPDIR: w.TMP,
    FAKE_LAYOUT: w.product,
    FAKE_DIGEST: w.digests.product,
    ...r.env,
  });
  const results = await pool(
    RUNS.map(
      (r, i) => () =>
        run(
          r.args((n) => path.join(dirs[i] as string, n), w),
          env(r),
        ),
    ),
    PROCESSES,
  );
  RUNS.forEach((r, i) => {
    const res = results[i] as CliResult;
    const dir = dirs[i] as string;
    const what = r.name;
    const o = (n: string): string => path.join(dir, n);
    if (
      !t.equal(res.code, r.code, `${what}: exit ${r.code}`, {
        stdout: res.stdout,
        stderr: res.stderr,
      })
    )
      return;
    t.same(readdirSync(dir).sort(), r.outputs, `${what}: exactly ${r.outputs.join(', ')}`);
    r.check?.(t, res, o, w, what);
  });
  t.same(readdirSync(w.TMP), [], 'nothing left in TMPDIR');
}

/** The inputs (under base/in) and a World's other directories; the caller says how IN is reached. */
async function world(t: Test, base: string): Promise<{ src: string; w: Omit<World, 'IN'> }> {
  const src = path.join(base, 'in');
  const product = path.join(base, 'product');
  const digests = await makeInputs(src, product);
  const OUT = path.join(base, 'out');
  const TMP = path.join(base, 'tmp');
  mkdirSync(OUT);
  mkdirSync(TMP);
  t.comment(`inputs under ${src}`);
  return { src, w: { OUT, TMP, fake: FAKE_DOCKER, product, digests } };
}

t.test('1. every command × output flag, bundled CLI', async (t) => {
  await t.test('read-only bind mount, as root', async (t) => {
    if (!requireTool(t, 'bind-mount') || !requireTool(t, 'tar')) return;
    const mounts = new Mounts(t); // before t.testdir(): unmount before tap removes the dir
    const { src, w } = await world(t, privateTestdir(t));
    const seen = observe(src);
    const before = snapshotTree(src);
    const IN = mounts.readOnly(src);
    t.same(snapshotTree(IN), before, 'the mount shows the inputs');
    t.throws(
      () => writeFileSync(path.join(IN, REL.layout, 'index.json.lock'), ''),
      { code: 'EROFS' },
      'root cannot write through the mount',
    );
    await runAll(t, bundled({ cwd: IN }), { ...w, IN });
    t.same(await seen.changes(), [], UNCHANGED);
  });

  await t.test(`uid ${NOBODY} on a 0555/0444 tree`, async (t) => {
    if (!requireTool(t, 'setpriv') || !requireTool(t, 'tar')) return;
    let base = privateTestdir(t);
    const nobodyCan = (script: string): boolean =>
      runTool(AS_NOBODY[0] as string, [...AS_NOBODY.slice(1), process.execPath, '-e', script], {
        cwd: '/',
      }).code === 0;
    const can = (p: string, mode: 'R_OK' | 'X_OK'): boolean =>
      nobodyCan(`require('fs').accessSync(${JSON.stringify(p)}, require('fs').constants.${mode})`);
    if (!can(base, 'X_OK')) {
      // The testdir's parents are not traversable by nobody: use a fresh 0755 dir in /tmp.
      base = mkdtempSync(path.join(os.tmpdir(), 'ocikit-never-write-'));
      chmodSync(base, 0o755);
      const tmp = base;
      t.teardown(() => rmSync(tmp, { recursive: true, force: true }));
      t.comment(`the testdir is not traversable by uid ${NOBODY}; using ${base}`);
    }
    const { src, w } = await world(t, base);
    let script = BUNDLE;
    if (!can(BUNDLE, 'R_OK') || !can(FAKE_DOCKER, 'R_OK')) {
      script = path.join(base, 'ocikit.cjs');
      cpSync(BUNDLE, script);
      cpSync(path.dirname(FAKE_DOCKER), path.join(base, 'fixtures'), { recursive: true });
      w.fake = path.join(base, 'fixtures', path.basename(FAKE_DOCKER));
      t.comment(`the bundle or the scripted docker is not readable by uid ${NOBODY}: copies`);
    }
    chownSync(w.OUT, NOBODY, NOBODY);
    chownSync(w.TMP, NOBODY, NOBODY);
    walkTree(src, (abs, isDir) => chmodSync(abs, isDir ? 0o555 : 0o444));
    t.notOk(
      nobodyCan(`require('fs').mkdirSync(${JSON.stringify(path.join(src, REL.layout, 'probe'))})`),
      `uid ${NOBODY} cannot create anything in the inputs`,
    );
    const seen = observe(src);
    await runAll(t, bundled({ prefix: AS_NOBODY, cwd: src, script }), { ...w, IN: src }, NOBODY);
    t.same(await seen.changes(), [], UNCHANGED);
  });

  await t.test('writable tree, as root, under inotify', async (t) => {
    if (!requireTool(t, 'tar')) return;
    const { src, w } = await world(t, privateTestdir(t));
    const seen = observe(src);
    if (!seen.atimes)
      t.comment('reads update atimes on this mount (strictatime?): atimes not compared');
    await runAll(t, bundled({ cwd: src }), { ...w, IN: src });
    t.same(await seen.changes(), [], UNCHANGED);
  });
});

// ---------------------------------------------------------------------------------------------
// 2. Placement: every output flag × every input × every way of pointing at it.

type Placement =
  | 'equal'
  | 'inside'
  | 'above'
  | 'symlink'
  | 'symlink-inside'
  | 'dotdot'
  | 'dangling'
  | 'dangling-inside';

const PLACEMENTS: readonly Placement[] = [
  'equal',
  'inside',
  'above',
  'symlink',
  'symlink-inside',
  'dotdot',
  'dangling',
  'dangling-inside',
];

const DESCRIBE: Record<Placement | 'symlink-dotdot', string> = {
  equal: 'equal to',
  inside: 'inside (new parents)',
  above: 'above',
  symlink: 'through a symlink to',
  'symlink-inside': 'inside, through a symlink to',
  dotdot: 'via .. into',
  dangling: 'through a dangling symlink into',
  'dangling-inside': 'below a dangling symlink into',
  'symlink-dotdot': 'via SYMLINK/.. into',
};

interface OutSpec {
  flag: string;
  /** Its name in an elsewhere directory. */
  name: string;
  show: string;
}

const O_DIR: OutSpec = { flag: '--out', name: 'out', show: '--out DIR' };
const O_TAR: OutSpec = { flag: '--out', name: 'out.tar', show: '--out FILE.tar' };
const O_ARGS: OutSpec = { flag: '--args-file', name: 'args.json', show: '--args-file' };
const O_JSON: OutSpec = { flag: '--json-out', name: 'x.json', show: '--json-out' };

interface Spec {
  name: string;
  inputs: InputName[];
  /** The contexts, context directory and Dockerfile come from --config. */
  viaConfig?: boolean;
  head: (fake: string) => string[];
  tail?: string[];
  outs: OutSpec[];
}

const SPECS: Spec[] = [
  {
    name: 'resolve',
    inputs: ['layout'],
    head: () => ['resolve', REL.layout, '--tag', 'multi'],
    outs: [O_JSON],
  },
  { name: 'inspect', inputs: ['layout'], head: () => ['inspect', REL.layout], outs: [O_JSON] },
  { name: 'verify', inputs: ['layout'], head: () => ['verify', REL.layout], outs: [O_JSON] },
  {
    name: 'context',
    inputs: ['layout', 'archive'],
    head: () => ['context', `base=${REL.layout}:multi`, `arch=${REL.archive}:single`, ...BUILDX],
    outs: [O_DIR, O_JSON],
  },
  {
    name: 'buildx-args',
    inputs: ['layout', 'archive', 'ctx', 'df', 'config'],
    head: () => ['buildx-args', ...CONTEXTS, '-f', REL.df, '--config', REL.config, ...BUILDX],
    tail: [REL.ctx],
    outs: [O_DIR, O_ARGS, O_JSON],
  },
  {
    name: 'buildx-args (flags in --config)',
    viaConfig: true,
    inputs: ['layout', 'archive', 'ctx', 'df', 'configb'],
    head: () => ['buildx-args', '--config', REL.configb, ...BUILDX],
    outs: [O_DIR, O_ARGS, O_JSON],
  },
  {
    name: 'build',
    inputs: ['layout', 'archive', 'ctx', 'df', 'config'],
    head: (fake) => [
      'build',
      '--docker',
      fake,
      ...BUILDX,
      '--progress',
      'quiet',
      ...CONTEXTS,
      '-f',
      REL.df,
      '--config',
      REL.config,
    ],
    tail: [REL.ctx],
    outs: [O_DIR, O_TAR, O_JSON],
  },
  {
    name: 'build (flags in --config)',
    viaConfig: true,
    inputs: ['layout', 'archive', 'ctx', 'df', 'configb'],
    head: (fake) =>
      ['build', '--docker', fake, ...BUILDX, '--progress', 'quiet'].concat([
        '--config',
        REL.configb,
      ]),
    outs: [O_DIR, O_TAR, O_JSON],
  },
  {
    name: 'index',
    inputs: ['layout', 'layout2'],
    head: () => ['index', `${REL.layout}:single`, `${REL.layout2}:arm`],
    outs: [O_DIR, O_JSON],
  },
  { name: 'pack', inputs: ['layout'], head: () => ['pack', REL.layout], outs: [O_TAR, O_JSON] },
  {
    name: 'unpack',
    inputs: ['archive'],
    head: () => ['unpack', REL.archive],
    outs: [O_DIR, O_JSON],
  },
];

/** One output flag of one command, to be placed against each of the command's inputs. */
function pairs(): { spec: Spec; out: OutSpec }[] {
  return SPECS.flatMap((spec) => spec.outs.map((out) => ({ spec, out })));
}

interface PlacementCase {
  what: string;
  args: string[];
  env: Record<string, string>;
  relation: 'equal' | 'inside' | 'contains';
  /** Where the run's other outputs were sent: afterwards it holds only --json-out's error. */
  elsewhere: string;
  /** The --json-out given elsewhere (when another flag is the placed one). */
  jsonOut?: string;
}

interface Fixture {
  IN: string;
  /** Per-case directories for the other outputs. */
  RES: string;
  /** Symlinks for the SYMLINK/.. cases (outside the inputs: `..` taken lexically lands here). */
  LX: string;
  fake: string;
  product: string;
  digests: Digests;
}

let caseCount = 0;

/**
 * A placement case: `spec` with `out` placed as `placement` says against `input`, its other
 * outputs sent to a directory of their own (which must stay as promised). Creates the symlinks
 * the case needs.
 */
function placementCase(
  f: Fixture,
  spec: Spec,
  out: OutSpec,
  input: InputName,
  placement: Placement | 'symlink-dotdot',
): PlacementCase {
  const id = `c${++caseCount}`;
  const X = path.join(f.IN, REL[input]);
  const H = path.dirname(X);
  const isDir = DIR_INPUTS.has(input);
  const fresh = `new-${id}`;
  const link = (name: string, target: string, dir = path.join(f.IN, 'links')): string => {
    const p = path.join(dir, name);
    if (!lstatExists(p)) symlinkSync(target, p);
    return p;
  };
  let placed: string;
  let relation: PlacementCase['relation'];
  switch (placement) {
    case 'equal':
      [placed, relation] = [X, 'equal'];
      break;
    case 'inside':
      [placed, relation] = [path.join(X, fresh, 'deep'), 'inside'];
      break;
    case 'above':
      [placed, relation] = [H, 'contains'];
      break;
    case 'symlink':
      [placed, relation] = [
        link(`to-${input}`, path.relative(path.join(f.IN, 'links'), X)),
        'equal',
      ];
      break;
    case 'symlink-inside':
      link(`to-${input}`, path.relative(path.join(f.IN, 'links'), X));
      [placed, relation] = [path.join(f.IN, 'links', `to-${input}`, fresh), 'inside'];
      break;
    case 'dotdot':
      [placed, relation] = [
        `${f.IN}/sib/../${REL[input]}${isDir ? `/${fresh}` : ''}`,
        isDir ? 'inside' : 'equal',
      ];
      break;
    case 'dangling':
      [placed, relation] = [link(`dang-${id}`, path.join(X, fresh)), 'inside'];
      break;
    case 'dangling-inside':
      [placed, relation] = [`${link(`dang-${id}`, path.join(X, fresh))}/deep`, 'inside'];
      break;
    case 'symlink-dotdot':
      // The kernel takes `..` after following sub-X (to X's holder/sub): X itself (or inside).
      link(`sub-${input}`, path.join(H, 'sub'), f.LX);
      [placed, relation] = [
        `${f.LX}/sub-${input}/../${path.basename(X)}${isDir ? `/${fresh}` : ''}`,
        isDir ? 'inside' : 'equal',
      ];
      break;
  }
  const elsewhere = path.join(f.RES, id);
  const given: [OutSpec, string][] = [];
  const flags = new Set([out.flag]);
  for (const o of spec.outs) {
    if (flags.has(o.flag)) continue;
    flags.add(o.flag);
    given.push([o, path.join(elsewhere, 'deep', o.name)]);
  }
  given.push([out, placed]);
  const jsonOut = out === O_JSON ? undefined : given.find(([o]) => o === O_JSON)?.[1];
  const inputLabel = (spec.viaConfig === true ? VIA_CONFIG[input] : undefined) ?? LABEL[input];
  const c: PlacementCase = {
    what: `${spec.name} ${out.show} ${DESCRIBE[placement]} ${inputLabel}`,
    args: [
      ...spec.head(f.fake),
      ...given.flatMap(([o, p]) => [o.flag, p]),
      '--json',
      ...(spec.tail ?? []),
    ],
    env: {
      PATH: process.env['PATH'] ?? '/usr/bin:/bin',
      FAKE_LAYOUT: f.product,
      FAKE_DIGEST: f.digests.product,
      FAKE_ARGV: path.join(elsewhere, 'docker-argv.json'),
    },
    relation,
    elsewhere,
  };
  if (jsonOut !== undefined) c.jsonOut = jsonOut;
  return c;
}

function lstatExists(p: string): boolean {
  try {
    lstatSync(p);
    return true;
  } catch {
    return false;
  }
}

/** What a placement case must come to: refused, the error where it belongs, nothing created. */
function checkPlacement(
  t: Test,
  c: PlacementCase,
  r: CliResult,
  options: { json: boolean; todo?: string } = { json: true },
): void {
  const extra = options.todo !== undefined ? { todo: options.todo } : {};
  const what = c.what;
  t.equal(r.code, 1, `${what}: exit 1`, { ...extra, stdout: r.stdout, stderr: r.stderr });
  let doc: Record<string, unknown> | undefined;
  if (c.jsonOut === undefined) {
    if (options.json) doc = parseDoc(r.stdout);
    else t.equal(r.stdout, '', `${what}: nothing on stdout`, extra);
  } else {
    t.equal(r.stdout, '', `${what}: nothing on stdout (the error is in --json-out)`, extra);
    doc = readJson(c.jsonOut);
  }
  if (doc !== undefined || options.json || c.jsonOut !== undefined) {
    const e = errorOf(doc);
    t.equal(e?.code, 'OCIKIT_OUT_INSIDE_INPUT', `${what}: OCIKIT_OUT_INSIDE_INPUT`, {
      ...extra,
      doc,
      stderr: r.stderr,
    });
    t.equal(e?.relation, c.relation, `${what}: relation ${c.relation}`, extra);
  }
  if (!options.json)
    t.match(
      r.stderr,
      /^ocikit: error OCIKIT_OUT_INSIDE_INPUT: /m,
      `${what}: the code on stderr`,
      extra,
    );
  t.same(
    listTree(c.elsewhere),
    c.jsonOut === undefined ? [] : ['deep', path.join('deep', path.basename(c.jsonOut))],
    `${what}: the other outputs: ${c.jsonOut === undefined ? 'none' : 'only --json-out'}`,
    extra,
  );
}

async function placementWorld(t: Test): Promise<Fixture> {
  const base = privateTestdir(t);
  const IN = path.join(base, 'in');
  const product = path.join(base, 'product');
  const digests = await makeInputs(IN, product);
  mkdirSync(path.join(IN, 'links'));
  mkdirSync(path.join(IN, 'sib'));
  const f: Fixture = {
    IN,
    RES: path.join(base, 'res'),
    LX: path.join(base, 'lx'),
    fake: FAKE_DOCKER,
    product,
    digests,
  };
  mkdirSync(f.RES);
  mkdirSync(f.LX);
  const tmp = path.join(base, 'tmp');
  mkdirSync(tmp);
  const previous = process.env['TMPDIR'];
  process.env['TMPDIR'] = tmp; // in-process runs: os.tmpdir() for build's scratch directory
  t.teardown(() => {
    if (previous === undefined) delete process.env['TMPDIR'];
    else process.env['TMPDIR'] = previous;
  });
  return f;
}

t.test('2. outputs placed on, in, above or through every input are refused', async (t) => {
  const f = await placementWorld(t);
  const corpus: PlacementCase[] = [];
  for (const { spec, out } of pairs())
    for (const input of spec.inputs)
      for (const placement of PLACEMENTS)
        corpus.push(placementCase(f, spec, out, input, placement));
  // A sample through the bundle: each flag of each command once, placements and inputs rotated.
  const sample = pairs().map(({ spec, out }, k) => ({
    json: k % 2 === 1,
    c: placementCase(
      f,
      spec,
      out,
      spec.inputs[k % spec.inputs.length] as InputName,
      PLACEMENTS[k % PLACEMENTS.length] as Placement,
    ),
  }));
  const seen = observe(f.IN);

  const started = Date.now();
  const results = await pool(
    corpus.map((c) => () => cli(c.args, f.IN, c.env)),
    IN_PROCESS,
  );
  t.comment(
    `${corpus.length} placement cases (${pairs().length} command × flag pairs, ${PLACEMENTS.length} placements) in-process in ${Date.now() - started} ms`,
  );
  corpus.forEach((c, i) => checkPlacement(t, c, results[i] as CliResult));

  const run = bundled({ cwd: f.IN });
  const sampled = await pool(
    sample.map(
      ({ c, json }) =>
        () =>
          run(json ? c.args : c.args.filter((a) => a !== '--json'), {
            TMPDIR: process.env['TMPDIR'] as string,
            ...c.env,
          }),
    ),
    PROCESSES,
  );
  sample.forEach(({ c, json }, i) =>
    checkPlacement(t, { ...c, what: `bundle: ${c.what}` }, sampled[i] as CliResult, { json }),
  );

  t.same(await seen.changes(), [], `the inputs, their holders, the links: ${UNCHANGED}`);
  t.same(readdirSync(process.env['TMPDIR'] as string), [], 'nothing left in TMPDIR');
});

t.test('2b. SYMLINK/.. into an input: the kernel resolves it into the input', async (t) => {
  const f = await placementWorld(t);
  const cases = pairs().map(({ spec, out }) =>
    placementCase(f, spec, out, spec.inputs[0] as InputName, 'symlink-dotdot'),
  );
  const links = listTree(f.LX);
  const seen = observe(f.IN);
  const results = await pool(
    cases.map((c) => () => cli(c.args, f.IN, c.env)),
    IN_PROCESS,
  );
  cases.forEach((c, i) => checkPlacement(t, c, results[i] as CliResult, { json: true }));
  t.same(listTree(f.LX), links, 'nothing created beside the symlinks');
  // What must hold regardless: the inputs themselves are untouched.
  t.same(await seen.changes(), [], `the inputs: ${UNCHANGED}`);
});

// ---------------------------------------------------------------------------------------------
// The library's writers, given a path whose `..` follows a symlink: the kernel takes it after
// the symlink (away from the input), path.resolve before it (into the input), and the writes
// use the latter. Both places are guarded.

t.test('2d. library writers: AWAY/../layout/x is refused where path.resolve puts it', async (t) => {
  const f = await placementWorld(t);
  const X = path.join(f.IN, REL.layout);
  const H = path.dirname(X);
  symlinkSync(f.RES, path.join(H, 'away')); // H/away/.. is dirname(RES) for the kernel
  const into = (name: string): string => `${H}/away/../${path.basename(X)}/${name}`;
  const seen = observe(f.IN);
  const writers: [string, () => Promise<unknown>][] = [
    ['packLayout', async () => packLayout(await openLayout(X), into('x.tar'))],
    [
      'prepareContexts',
      () =>
        prepareContexts([{ name: 'base', ref: parseLayoutRef(`${X}:multi`, 'base') }], {
          out: into('ctx'),
          mode: 'thin',
        }),
    ],
    ['mergeIndex', () => mergeIndex([`${X}:single`], into('idx'))],
    [
      'OutputSet.dir',
      async () => {
        const set = new OutputSet();
        try {
          await set.addInputs([{ path: X, label: 'layout' }]);
          await set.dir('--out', into('new'));
          await set.commit();
        } finally {
          await set.close();
        }
      },
    ],
  ];
  for (const [name, write] of writers)
    await t.rejects(write(), { code: 'OCIKIT_OUT_INSIDE_INPUT' }, `${name}: refused`);
  t.same(await seen.changes(), [], `the layout: ${UNCHANGED}`);
  t.same(
    readdirSync(path.dirname(f.RES)).includes(path.basename(X)),
    false,
    'nothing written away either',
  );
});

// ---------------------------------------------------------------------------------------------
// Outputs overlapping each other.

interface OverlapCase {
  spec: string;
  /** Output flags and their paths, relative to the case's directory. */
  outs: [OutSpec, string][];
  /** The output declared first (the `other` the error names). */
  first: string;
  /** Everything in the case's directory afterwards (--json-out holds the error, when given). */
  files: string[];
  setup?: (dir: string) => void;
}

const OVERLAPS: OverlapCase[] = [
  {
    spec: 'context',
    outs: [
      [O_DIR, 'o'],
      [O_JSON, 'o/x.json'],
    ],
    first: 'o/x.json',
    files: ['o', 'o/x.json'],
  },
  {
    spec: 'context',
    outs: [
      [O_DIR, 'o/sub'],
      [O_JSON, 'o'],
    ],
    first: 'o',
    files: ['o'],
  },
  {
    spec: 'context',
    outs: [
      [O_DIR, 'o'],
      [O_JSON, 'o'],
    ],
    first: 'o',
    files: ['o'],
  },
  {
    spec: 'context',
    outs: [
      [O_DIR, 'o'],
      [O_JSON, 'ln/o/x.json'],
    ],
    first: 'ln/o/x.json',
    files: ['ln', 'o', 'o/x.json'],
    setup: (dir) => symlinkSync('.', path.join(dir, 'ln')),
  },
  {
    spec: 'buildx-args',
    outs: [
      [O_DIR, 'o'],
      [O_ARGS, 'o/a.json'],
    ],
    first: 'o/a.json',
    files: [],
  },
  {
    spec: 'buildx-args',
    outs: [
      [O_ARGS, 'a.json'],
      [O_JSON, 'a.json'],
    ],
    first: 'a.json',
    files: ['a.json'],
  },
  {
    spec: 'buildx-args',
    outs: [
      [O_DIR, 'o'],
      [O_ARGS, 'a.json'],
      [O_JSON, 'o/x.json'],
    ],
    first: 'o/x.json',
    files: ['o', 'o/x.json'],
  },
  {
    spec: 'build',
    outs: [
      [O_DIR, 'o'],
      [O_JSON, 'o/x.json'],
    ],
    first: 'o/x.json',
    files: ['o', 'o/x.json'],
  },
  {
    spec: 'build',
    outs: [
      [O_TAR, 'o.tar'],
      [O_JSON, 'o.tar'],
    ],
    first: 'o.tar',
    files: ['o.tar'],
  },
  {
    spec: 'build',
    outs: [
      [O_TAR, 'o.tar'],
      [O_JSON, 'o.tar/x.json'],
    ],
    first: 'o.tar/x.json',
    files: ['o.tar', 'o.tar/x.json'],
  },
  {
    spec: 'index',
    outs: [
      [O_DIR, 'o'],
      [O_JSON, 'o/x.json'],
    ],
    first: 'o/x.json',
    files: ['o', 'o/x.json'],
  },
  {
    spec: 'pack',
    outs: [
      [O_TAR, 'o.tar'],
      [O_JSON, 'o.tar'],
    ],
    first: 'o.tar',
    files: ['o.tar'],
  },
  {
    spec: 'pack',
    outs: [
      [O_TAR, 'j/x.tar'],
      [O_JSON, 'j'],
    ],
    first: 'j',
    files: ['j'],
  },
  {
    spec: 'unpack',
    outs: [
      [O_DIR, 'o'],
      [O_JSON, 'o/x.json'],
    ],
    first: 'o/x.json',
    files: ['o', 'o/x.json'],
  },
  {
    spec: 'unpack',
    outs: [
      [O_DIR, 'o'],
      [O_JSON, 'o'],
    ],
    first: 'o',
    files: ['o'],
  },
];

t.test('2c. outputs overlapping each other: OCIKIT_OUT_INVALID before any work', async (t) => {
  const f = await placementWorld(t);
  const seen = observe(f.IN);
  const cases = OVERLAPS.map((o, i) => {
    const dir = path.join(f.RES, `o${i}`);
    mkdirSync(dir);
    o.setup?.(dir);
    const spec = SPECS.find((s) => s.name === o.spec) as Spec;
    return {
      o,
      dir,
      before: listTree(dir),
      what: `${o.spec} ${o.outs.map(([f, p]) => `${f.show} ${p}`).join(' ')}`,
      args: [
        ...spec.head(f.fake),
        ...o.outs.flatMap(([f, p]) => [f.flag, path.join(dir, p)]),
        '--json',
        ...(spec.tail ?? []),
      ],
      env: {
        PATH: process.env['PATH'] ?? '/usr/bin:/bin',
        FAKE_LAYOUT: f.product,
        FAKE_DIGEST: f.digests.product,
        FAKE_ARGV: path.join(dir, 'docker-argv.json'),
      },
    };
  });
  const results = await pool(
    cases.map((c) => () => cli(c.args, f.IN, c.env)),
    IN_PROCESS,
  );
  cases.forEach((c, i) => {
    const r = results[i] as CliResult;
    if (!t.equal(r.code, 1, `${c.what}: exit 1`, { stdout: r.stdout, stderr: r.stderr })) return;
    const json = c.o.outs.find(([f]) => f === O_JSON)?.[1];
    const doc = json === undefined ? parseDoc(r.stdout) : readJson(path.join(c.dir, json));
    t.equal(errorOf(doc)?.code, 'OCIKIT_OUT_INVALID', `${c.what}: OCIKIT_OUT_INVALID`, { doc });
    t.equal(
      errorOf(doc)?.other,
      path.join(c.dir, c.o.first),
      `${c.what}: refused by the guard, naming ${c.o.first}`,
    );
    t.same(
      listTree(c.dir),
      c.o.files,
      `${c.what}: afterwards ${c.o.files.join(', ') || 'nothing'}`,
    );
  });
  t.same(await seen.changes(), [], `the inputs: ${UNCHANGED}`);
  t.same(readdirSync(process.env['TMPDIR'] as string), [], 'nothing left in TMPDIR');
});

// ---------------------------------------------------------------------------------------------
// 3. All or nothing.

t.test('3. an output that cannot be written (full disk) takes the others with it', async (t) => {
  if (!requireTool(t, 'bind-mount') || !requireTool(t, 'tar')) return; // mounts a tmpfs
  const mounts = new Mounts(t);
  const f = await placementWorld(t);
  const FULL = mounts.tmpfs(path.dirname(f.IN), 16 * 1024);
  try {
    writeFileSync(path.join(FULL, 'fill'), Buffer.alloc(1 << 20));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
  }
  t.throws(
    () => writeFileSync(path.join(FULL, 'probe'), 'x'),
    { code: 'ENOSPC' },
    'the tmpfs is full',
  );
  unlinkSync(path.join(FULL, 'probe'));
  const full = (name: string): string => path.join(FULL, name);
  const cases: { what: string; args: (o: (n: string) => string) => string[]; left: string[] }[] = [
    {
      what: 'context (an archive unpacked into --out)',
      args: (o) => [
        'context',
        `arch=${REL.archive}:single`,
        ...BUILDX,
        '--out',
        o('out'),
        '--json-out',
        full('c.json'),
      ],
      left: [],
    },
    {
      what: 'buildx-args, --json-out on the full disk',
      args: (o) => [
        'buildx-args',
        ...CONTEXTS,
        ...BUILDX,
        '--out',
        o('out'),
        '--json-out',
        full('b.json'),
        REL.ctx,
      ],
      left: [],
    },
    {
      what: 'buildx-args, --args-file on the full disk',
      args: (o) => [
        'buildx-args',
        ...CONTEXTS,
        ...BUILDX,
        '--out',
        o('out'),
        '--args-file',
        full('args.json'),
        '--json-out',
        o('x.json'),
        REL.ctx,
      ],
      left: ['x.json'],
    },
    ...[O_DIR, O_TAR].map((out) => ({
      what: `build ${out.show}`,
      args: (o: (n: string) => string) => [
        'build',
        '--docker',
        f.fake,
        ...BUILDX,
        '--no-preflight',
        '--progress',
        'quiet',
        ...CONTEXTS,
        '-f',
        REL.df,
        '--out',
        o(out.name),
        '--json-out',
        full(`build-${out.name}.json`),
        REL.ctx,
      ],
      left: [],
    })),
    {
      what: 'index',
      args: (o) => [
        'index',
        `${REL.layout}:single`,
        `${REL.layout2}:arm`,
        '--out',
        o('out'),
        '--json-out',
        full('i.json'),
      ],
      left: [],
    },
    {
      what: 'pack',
      args: (o) => ['pack', REL.layout, '--out', o('out.tar'), '--json-out', full('p.json')],
      left: [],
    },
    {
      what: 'unpack',
      args: (o) => ['unpack', REL.archive, '--out', o('out'), '--json-out', full('u.json')],
      left: [],
    },
  ];
  const env = {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    FAKE_LAYOUT: f.product,
    FAKE_DIGEST: f.digests.product,
  };
  const dirs = cases.map((_c, i) => path.join(f.RES, `full${i}`));
  for (const d of dirs) mkdirSync(d);
  const results = await pool(
    cases.map(
      (c, i) => () =>
        cli(
          c.args((n) => path.join(dirs[i] as string, n)),
          f.IN,
          env,
        ),
    ),
    IN_PROCESS,
  );
  cases.forEach((c, i) => {
    const r = results[i] as CliResult;
    const dir = dirs[i] as string;
    if (!t.equal(r.code, 1, `${c.what}: exit 1`, { stdout: r.stdout, stderr: r.stderr })) return;
    t.match(r.stderr, /^ocikit: error OCIKIT_NO_SPACE: /m, `${c.what}: OCIKIT_NO_SPACE on stderr`);
    t.same(readdirSync(dir).sort(), c.left, `${c.what}: left ${c.left.join(', ') || 'nothing'}`);
    if (c.left.includes('x.json'))
      t.equal(
        errorOf(readJson(path.join(dir, 'x.json')))?.code,
        'OCIKIT_NO_SPACE',
        `${c.what}: --json-out holds the error`,
      );
  });
  t.same(readdirSync(FULL), ['fill'], 'nothing left on the full disk');
  t.same(readdirSync(process.env['TMPDIR'] as string), [], 'nothing left in TMPDIR');
});

t.test('3b. of 16 concurrent runs writing one output, exactly one wins', async (t) => {
  if (!requireTool(t, 'tar')) return;
  const f = await placementWorld(t);
  const seen = observe(f.IN);
  const races: { what: string; name: string; args: (out: string) => string[] }[] = [
    {
      what: 'resolve --json-out',
      name: 'x.json',
      args: (o) => ['resolve', REL.layout, '--tag', 'multi', '--json-out', o],
    },
    {
      what: 'buildx-args --args-file',
      name: 'args.json',
      args: (o) => ['buildx-args', ...CONTEXTS.slice(0, 2), ...BUILDX, '--args-file', o, REL.ctx],
    },
    {
      what: 'context --out',
      name: 'ctx',
      args: (o) => ['context', `arch=${REL.archive}:single`, ...BUILDX, '--out', o],
    },
    {
      what: 'build --out DIR',
      name: 'result',
      args: (o) => [
        'build',
        '--docker',
        f.fake,
        ...BUILDX,
        '--no-preflight',
        '--progress',
        'quiet',
        ...CONTEXTS.slice(0, 2),
        '--out',
        o,
        REL.ctx,
      ],
    },
    {
      what: 'index --out',
      name: 'idx',
      args: (o) => ['index', `${REL.layout}:single`, `${REL.layout2}:arm`, '--out', o],
    },
    { what: 'pack --out', name: 'l.tar', args: (o) => ['pack', REL.layout, '--out', o] },
    { what: 'unpack --out', name: 'l', args: (o) => ['unpack', REL.archive, '--out', o] },
  ];
  const env = {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    FAKE_LAYOUT: f.product,
    FAKE_DIGEST: f.digests.product,
  };
  for (const [i, race] of races.entries()) {
    const dir = path.join(f.RES, `race${i}`);
    mkdirSync(dir);
    const out = path.join(dir, race.name);
    const results = await Promise.all(
      Array.from({ length: 16 }, () => cli([...race.args(out), '--json'], f.IN, env)),
    );
    const codes = results.map((r) => codeOf(r));
    t.same(
      codes.slice().sort(),
      ['ok', ...Array<string>(15).fill('OCIKIT_OUT_NOT_EMPTY')].sort(),
      `${race.what}: one winner, 15 × OCIKIT_OUT_NOT_EMPTY`,
      { stderr: results.map((r) => r.stderr).filter((s) => s !== '') },
    );
    t.same(readdirSync(dir), [race.name], `${race.what}: no temporary sibling left`);
  }
  // Each with a --json-out of its own: the losers' hold their error.
  for (const [i, race] of races
    .filter((r) => r.what.startsWith('pack') || r.what.startsWith('unpack'))
    .entries()) {
    const dir = path.join(f.RES, `own${i}`);
    mkdirSync(dir);
    const out = path.join(dir, race.name);
    const results = await Promise.all(
      Array.from({ length: 16 }, (_x, k) =>
        cli([...race.args(out), '--json-out', path.join(dir, `j${k}.json`)], f.IN, env),
      ),
    );
    const what = `${race.what} --json-out (one each)`;
    t.same(
      results.map(codeOf).sort(),
      ['ok', ...Array<string>(15).fill('OCIKIT_OUT_NOT_EMPTY')].sort(),
      `${what}: one winner`,
    );
    t.same(
      results
        .map((_r, k) => {
          const doc = readJson(path.join(dir, `j${k}.json`));
          return doc === undefined ? 'no --json-out' : (errorOf(doc)?.code ?? 'ok');
        })
        .sort(),
      ['ok', ...Array<string>(15).fill('OCIKIT_OUT_NOT_EMPTY')].sort(),
      `${what}: every --json-out holds its run's document`,
    );
    t.same(
      readdirSync(dir).filter((n) => n.includes('ocikit-tmp')),
      [],
      `${what}: no temporary sibling left`,
    );
  }
  t.same(await seen.changes(), [], `the inputs: ${UNCHANGED}`);
  t.same(readdirSync(process.env['TMPDIR'] as string), [], 'nothing left in TMPDIR');
});

t.test('no mounts are left behind', async (t) => {
  if (prerequisiteProblem('bind-mount') !== undefined) return t.plan(0, 'no mounts were made');
  t.same(ourMountPoints(), [], 'none of our mounts under .tap/fixtures');
  t.same(mountsInOurTestdirs(), [], 'nothing mounted in our testdirs');
});
