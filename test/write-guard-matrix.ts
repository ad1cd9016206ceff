/**
 * The write guard as a new, adversarial user meets it: every command × every output flag ×
 * every shape of path (src/output/outputs.ts promises: inputs read-only, outputs written only
 * where a flag says, each checked against every input and every other output, atomically,
 * never replacing, nothing left on failure, exit 1 with a coded error, 2 for usage).
 *
 * Output flags: `--out` (a directory, or a FILE.tar for pack and build), `--json-out`,
 * `--args-file`, and what buildx writes when it runs the invocation `buildx-args` prints or
 * `build` runs: `--metadata-file`, `--iidfile`, `--output type=local,dest=`, `--cache-to
 * type=local,dest=` ("external": ocikit never writes them, but it must not hand buildx a
 * command line that writes into an input).
 *
 * Shapes: equal to an input, inside one, an input inside the output, the output's parent a
 * symlink into an input, the input given through a symlink and the output by its real path,
 * `..` through a sibling, an absolute path into an input; relative and absolute paths that
 * succeed, missing parents, a trailing slash, an output that exists (file, non-empty directory,
 * empty directory, dangling symlink, symlink to an empty directory), two outputs on one path,
 * the same flag twice, an empty path, `--json` with `--json-out`, Bazel-style paths through a
 * `bazel-out` symlink; through the bundle: an output in a read-only directory (as uid 65534),
 * an argument file (`@FILE`) as an input, and the exit-code contract.
 *
 * Every cell: the exit code, the error code (never OCIKIT_INTERNAL, never a stack trace), what
 * exists afterwards in the case's own directory (the output on success; on failure only what
 * was there before, plus --json-out's error document when it was given elsewhere), no
 * temporary sibling anywhere; and at the end the inputs unchanged (paths, modes, mtimes, sizes,
 * content) and TMPDIR empty. test/never-write.ts covers the same promise in other worlds
 * (read-only mounts, inotify, full disks, races); this file is the table of path shapes.
 */
import t from 'tap';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  symlinkSync,
  writeFileSync,
  chmodSync,
  cpSync,
  linkSync,
  mkdtempSync,
  rmSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openLayout } from '../src/layout/layout.js';
import { packLayout } from '../src/archive/pack.js';
import { BUNDLE, ROOT, bundled, cli, pool, type CliResult } from './helpers/cli.js';
import { LayoutBuilder, standardLayout, tagged } from './helpers/layout-builder.js';
import { tempSiblings } from './helpers/outputs.js';
import { AS_NOBODY, NOBODY, privateTestdir, requireTool, runTool } from './helpers/tools.js';
import { snapshotTree, walkTree } from './helpers/tree.js';
import { Mounts } from './helpers/mounts.js';

type Test = Parameters<Parameters<typeof t.test>[0]>[0];

const FAKE_DOCKER = path.join(ROOT, 'test/fixtures/fake-docker.mjs');

t.before(() => {
  if (!existsSync(BUNDLE)) throw new Error(`${BUNDLE} is missing: run npm run build first`);
});

// ---------------------------------------------------------------------------------------------
// The inputs, each in a holder directory of its own, relative to IN (every run's cwd).

type InputName = 'layout' | 'layout2' | 'archive' | 'ctx' | 'df';
const REL: Record<InputName, string> = {
  layout: 'layout-h/layout',
  layout2: 'layout2-h/layout',
  archive: 'archive-h/image.tar',
  ctx: 'ctx-h/ctx',
  df: 'df-h/Dockerfile.app',
};
const IS_DIR: Record<InputName, boolean> = {
  layout: true,
  layout2: true,
  archive: false,
  ctx: true,
  df: false,
};

/** Where the Bazel-built layout is under bazel-out. */
const BAZEL_LAYOUT_IN = 'k8-fastbuild/bin/pkg/base_layout';

interface World {
  base: string;
  IN: string;
  /** The real directory a `bazel-out` symlink in IN points to, holding a copy of the layout. */
  BAZEL: string;
  OUT: string;
  TMP: string;
  env: Record<string, string>;
}

async function makeWorld(t: Test, base = privateTestdir(t)): Promise<World> {
  const IN = path.join(base, 'in');
  const at = (n: InputName): string => path.join(IN, REL[n]);
  for (const n of Object.keys(REL) as InputName[])
    mkdirSync(path.dirname(at(n)), { recursive: true });
  standardLayout(at('layout'));
  // ingest/ present: buildx 0.13.1 leaves a digest-pinned layout alone (used in place).
  mkdirSync(path.join(at('layout'), 'ingest'));
  const b2 = new LayoutBuilder(at('layout2'));
  const arm = b2.image({ platform: { os: 'linux', architecture: 'arm64' }, layers: [] });
  b2.writeIndex([tagged(arm, 'arm')]);
  await packLayout(await openLayout(at('layout')), at('archive'));
  mkdirSync(at('ctx'));
  writeFileSync(path.join(at('ctx'), 'hello.txt'), 'hi\n');
  writeFileSync(at('df'), 'FROM arch AS a\nFROM base\nCOPY --from=a /a.txt /\nCOPY hello.txt /\n');
  mkdirSync(path.join(IN, 'links'));
  mkdirSync(path.join(IN, 'sib'));
  // Bazel: the workspace's bazel-out is a symlink into the output base.
  const BAZEL = path.join(base, 'output-base/execroot/_main/bazel-out');
  mkdirSync(path.join(BAZEL, 'k8-fastbuild/bin/pkg'), { recursive: true });
  cpSync(at('layout'), path.join(BAZEL, BAZEL_LAYOUT_IN), { recursive: true });
  symlinkSync(BAZEL, path.join(IN, 'bazel-out'));
  // What the scripted docker "builds".
  const product = path.join(base, 'product');
  const b = new LayoutBuilder(product);
  const amd = b.image({ platform: { os: 'linux', architecture: 'amd64' }, layers: [{ x: 'x' }] });
  const armp = b.image({ platform: { os: 'linux', architecture: 'arm64' }, layers: [] });
  const idx = b.index([amd, armp]);
  b.writeIndex([tagged(idx, 'latest')]);
  const OUT = path.join(base, 'out');
  const TMP = path.join(base, 'tmp');
  mkdirSync(OUT);
  mkdirSync(TMP);
  const previous = process.env['TMPDIR'];
  process.env['TMPDIR'] = TMP; // in-process runs: os.tmpdir() for build's scratch directory
  t.teardown(() => {
    if (previous === undefined) delete process.env['TMPDIR'];
    else process.env['TMPDIR'] = previous;
  });
  const env = {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    TMPDIR: TMP,
    FAKE_LAYOUT: product,
    FAKE_DIGEST: idx.digest,
  };
  return { base, IN, BAZEL, OUT, TMP, env };
}

// ---------------------------------------------------------------------------------------------
// Commands and their output flags.

type FlagId =
  | 'out-dir'
  | 'out-tar'
  | 'json-out'
  | 'args-file'
  | 'metadata-file'
  | 'iidfile'
  | 'output-dest'
  | 'cache-to';

interface Flag {
  id: FlagId;
  /** dir/file: ocikit writes it; external: buildx does (ocikit only checks where). */
  kind: 'dir' | 'file' | 'external';
  /** A name for it in a case directory. */
  name: string;
  args: (p: string) => string[];
}

const FLAGS: Record<FlagId, Flag> = {
  'out-dir': { id: 'out-dir', kind: 'dir', name: 'o', args: (p) => ['--out', p] },
  'out-tar': { id: 'out-tar', kind: 'file', name: 'o.tar', args: (p) => ['--out', p] },
  'json-out': { id: 'json-out', kind: 'file', name: 'x.json', args: (p) => ['--json-out', p] },
  'args-file': { id: 'args-file', kind: 'file', name: 'a.txt', args: (p) => ['--args-file', p] },
  'metadata-file': {
    id: 'metadata-file',
    kind: 'external',
    name: 'meta.json',
    args: (p) => ['--metadata-file', p],
  },
  iidfile: { id: 'iidfile', kind: 'external', name: 'iid', args: (p) => ['--iidfile', p] },
  'output-dest': {
    id: 'output-dest',
    kind: 'external',
    name: 'exported',
    args: (p) => ['--output', `type=local,dest=${p}`],
  },
  'cache-to': {
    id: 'cache-to',
    kind: 'external',
    name: 'cache',
    args: (p) => ['--cache-to', `type=local,dest=${p}`],
  },
};

interface Command {
  name: string;
  inputs: InputName[];
  /** The command line before the outputs (input paths as given), and after them. */
  head: (p: Record<InputName, string>) => string[];
  tail?: (p: Record<InputName, string>) => string[];
  flags: FlagId[];
  /** Outputs always given (elsewhere) when the flag under test is another one. */
  needs: FlagId[];
}

const CONTEXTS = (p: Record<InputName, string>): string[] => [
  '--build-context',
  `base=${p.layout}:multi`,
  '--build-context',
  `arch=${p.archive}:single`,
];

const COMMANDS: Command[] = [
  {
    name: 'resolve',
    inputs: ['layout'],
    head: (p) => ['resolve', p.layout, '--tag', 'multi'],
    flags: ['json-out'],
    needs: [],
  },
  {
    name: 'inspect',
    inputs: ['layout'],
    head: (p) => ['inspect', p.layout],
    flags: ['json-out'],
    needs: [],
  },
  {
    name: 'verify',
    inputs: ['layout'],
    head: (p) => ['verify', p.layout],
    flags: ['json-out'],
    needs: [],
  },
  {
    name: 'context',
    inputs: ['layout', 'archive'],
    head: (p) => [
      'context',
      `base=${p.layout}:multi`,
      `arch=${p.archive}:single`,
      '--buildx-version',
      '0.13.1',
    ],
    flags: ['out-dir', 'json-out'],
    needs: ['out-dir'],
  },
  {
    name: 'buildx-args',
    inputs: ['layout', 'archive', 'ctx', 'df'],
    head: (p) => ['buildx-args', '--buildx-version', '0.13.1', ...CONTEXTS(p), '-f', p.df],
    tail: (p) => [p.ctx],
    flags: [
      'out-dir',
      'args-file',
      'json-out',
      'metadata-file',
      'iidfile',
      'output-dest',
      'cache-to',
    ],
    needs: ['out-dir'],
  },
  {
    name: 'build',
    inputs: ['layout', 'archive', 'ctx', 'df'],
    head: (p) => [
      'build',
      '--docker',
      FAKE_DOCKER,
      '--buildx-version',
      '0.13.1',
      '--progress',
      'quiet',
      '--no-preflight',
      '--platform',
      'linux/amd64,linux/arm64',
      ...CONTEXTS(p),
      '-f',
      p.df,
    ],
    tail: (p) => [p.ctx],
    flags: ['out-dir', 'out-tar', 'json-out', 'cache-to'],
    needs: ['out-dir'],
  },
  {
    name: 'index',
    inputs: ['layout', 'layout2'],
    head: (p) => ['index', `${p.layout}:single`, `${p.layout2}:arm`],
    flags: ['out-dir', 'json-out'],
    needs: ['out-dir'],
  },
  {
    name: 'pack',
    inputs: ['layout'],
    head: (p) => ['pack', p.layout],
    flags: ['out-tar', 'json-out'],
    needs: ['out-tar'],
  },
  {
    name: 'unpack',
    inputs: ['archive'],
    head: (p) => ['unpack', p.archive],
    flags: ['out-dir', 'json-out'],
    needs: ['out-dir'],
  },
];

// ---------------------------------------------------------------------------------------------
// Cases.

/** What a case must come to: success, or exit 1/2 with this code. */
type Expect = { ok: true } | { code: 1 | 2; error: string };
const OK: Expect = { ok: true };
const refused = (error: string): Expect => ({ code: 1, error });
const usage: Expect = { code: 2, error: 'OCIKIT_USAGE' };
const INSIDE = refused('OCIKIT_OUT_INSIDE_INPUT');
const EXISTS = refused('OCIKIT_OUT_NOT_EMPTY');
const OVERLAP = refused('OCIKIT_OUT_INVALID');
const UNWRITABLE = refused('OCIKIT_OUT_UNWRITABLE');

interface Case {
  what: string;
  args: string[];
  /** The case's own directory: before and after the run it holds only what it should. */
  dir: string;
  /** Its content before the run (setup included). */
  before: string[];
  expect: Expect;
  /** Where the tested output lands on success (dir or file), for ocikit's own outputs. */
  lands?: { path: string; kind: 'dir' | 'file' };
  /** --json-out given elsewhere in `dir` (relative): it holds the error after a failure. */
  jsonOut?: string;
  /** Run with cwd (default IN). */
  cwd?: string;
  /** Extra checks on success. */
  check?: (t: Test, r: CliResult) => void;
}

let counter = 0;

/** An argument the command refuses as a usage error (build and buildx-args pass unknown flags to docker). */
const USAGE_ERROR = (cmd: Command): string[] =>
  cmd.name === 'build' || cmd.name === 'buildx-args' ? ['--mode', 'bogus'] : ['--bogus'];

interface Placed {
  /** The path of the tested output, as given. */
  path: string;
  expect: Expect;
  /** Input paths as given to the command (default: REL). */
  inputs?: Partial<Record<InputName, string>>;
  /** Where it lands on success (default: path), and as what (default: the flag's kind). */
  lands?: string;
  landsKind?: 'dir' | 'file';
  /** The flag given twice (second path). */
  twice?: string;
  /** Add --json. */
  json?: boolean;
  /** More arguments (before the command's tail). */
  extra?: string[];
  /** The tested output is --json-out and holds the error document afterwards. */
  holdsError?: boolean;
  /** Another output on the same path as this one. */
  sameAs?: FlagId;
  cwd?: string;
  check?: Case['check'];
}

function makeCase(
  w: World,
  cmd: Command,
  flag: Flag,
  shape: string,
  place: (dir: string) => Placed,
): Case {
  const dir = path.join(w.OUT, `c${++counter}`);
  mkdirSync(dir);
  const p = place(dir);
  const inputs = { ...REL, ...p.inputs };
  const outs: string[] = [];
  const others: [Flag, string][] = [];
  // The other outputs the command needs, elsewhere (or, for sameAs, on the tested path).
  for (const id of cmd.needs) {
    if (
      id === flag.id ||
      (flag.id === 'out-tar' && id === 'out-dir') ||
      (flag.id === 'out-dir' && id === 'out-tar')
    )
      continue;
    others.push([FLAGS[id], path.join(dir, 'other', FLAGS[id].name)]);
  }
  let jsonOut: string | undefined;
  if (p.sameAs !== undefined) {
    const other = FLAGS[p.sameAs];
    const i = others.findIndex(([f]) => f.id === other.id);
    if (i >= 0) others.splice(i, 1);
    others.push([other, p.path]);
  }
  for (const [f, at] of others) {
    outs.push(...f.args(at));
    if (f.id === 'json-out' && p.sameAs === undefined) jsonOut = path.relative(dir, at);
  }
  outs.push(...flag.args(p.path));
  if (p.twice !== undefined) outs.push(...flag.args(p.twice));
  const args = [
    ...cmd.head(inputs),
    ...outs,
    ...(p.json === true ? ['--json'] : []),
    ...(p.extra ?? []),
    ...(cmd.tail?.(inputs) ?? []),
  ];
  const c: Case = {
    what: `${cmd.name} ${flag.id} ${shape}`,
    args,
    dir,
    before: listTree(dir),
    expect: p.expect,
  };
  if (flag.kind !== 'external' && 'ok' in p.expect)
    c.lands = { path: p.lands ?? p.path, kind: p.landsKind ?? flag.kind };
  // Two outputs on one path, one of them --json-out: it is declared first and gets the error.
  if (
    p.sameAs === 'json-out' ||
    (p.sameAs !== undefined && flag.id === 'json-out') ||
    p.holdsError === true
  )
    jsonOut = path.relative(dir, p.path);
  if (jsonOut !== undefined) c.jsonOut = jsonOut;
  if (p.cwd !== undefined) c.cwd = p.cwd;
  if (p.check !== undefined) c.check = p.check;
  return c;
}

/** Every path under `dir` (relative, sorted), symlinks not followed. */
function listTree(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  walkTree(dir, (abs) => {
    if (abs !== dir) out.push(path.relative(dir, abs));
  });
  return out.sort();
}

function link(w: World, name: string, target: string): string {
  const p = path.join(w.IN, 'links', name);
  try {
    lstatSync(p);
  } catch {
    symlinkSync(target, p);
  }
  return p;
}

/**
 * Whether `flag`'s output may lie inside input `x`: buildx's own outputs inside the build
 * context (`docker buildx build -o out .`: buildx has read the context before it writes).
 */
const nests = (flag: Flag, x: InputName): boolean => flag.kind === 'external' && x === 'ctx';

/** Shapes placed against one input `X` of the command. */
function inputShapes(w: World, cmd: Command, flag: Flag, x: InputName): Case[] {
  const X = path.join(w.IN, REL[x]);
  const dirInput = IS_DIR[x];
  const id = `${cmd.name}-${flag.id}-${x}`.replace(/[^a-z0-9-]/g, '');
  // Inside (not equal to) the input: refused, but for buildx's own outputs in the build context.
  const within = nests(flag, x) ? OK : INSIDE;
  const shapes: [string, (dir: string) => Placed][] = [
    ['equal to', () => ({ path: REL[x], expect: INSIDE })],
    ['inside', () => ({ path: path.join(REL[x], 'new', 'deep'), expect: within })],
    ['absolute, inside', () => ({ path: path.join(X, 'new'), expect: within })],
    ['above (the input inside it)', () => ({ path: path.dirname(REL[x]), expect: INSIDE })],
    [
      'its parent a symlink into',
      () =>
        dirInput
          ? { path: path.join(link(w, `into-${id}`, X), 'new'), expect: within }
          : {
              path: path.join(link(w, `holder-${id}`, path.dirname(X)), path.basename(X)),
              expect: INSIDE,
            },
    ],
    [
      'by its real path, the input through a symlink',
      () => ({
        path: dirInput ? path.join(X, 'new') : X,
        inputs: { [x]: path.relative(w.IN, link(w, `in-${id}`, X)) },
        expect: dirInput ? within : INSIDE,
      }),
    ],
    [
      'through a symlink, the input by its real path',
      () => ({ path: link(w, `out-${id}`, X), expect: INSIDE }),
    ],
    [
      'via sib/.. into',
      () => ({
        path: `sib/../${REL[x]}${dirInput ? '/new' : ''}`,
        expect: dirInput ? within : INSIDE,
      }),
    ],
    ['trailing slash on', () => ({ path: `${REL[x]}/`, expect: INSIDE })],
  ];
  // A usage error stops the run before the command names its inputs: --json-out's error
  // document must still not land in one.
  if (flag.id === 'json-out')
    shapes.push([
      'with a usage error, inside',
      () => ({
        path: path.join(REL[x], dirInput ? 'x.json' : ''),
        extra: USAGE_ERROR(cmd),
        expect: usage,
      }),
    ]);
  return shapes.map(([shape, place]) => makeCase(w, cmd, flag, `${shape} the ${x}`, place));
}

/** Shapes that do not depend on an input. */
function freeShapes(w: World, cmd: Command, flag: Flag): Case[] {
  const ext = flag.kind === 'external';
  const dirOut = flag.kind === 'dir';
  const n = flag.name;
  const rel = (p: string): string => path.relative(w.IN, p);
  const shapes: [string, (dir: string) => Placed][] = [
    ['relative, new', (d) => ({ path: rel(path.join(d, n)), expect: OK, lands: path.join(d, n) })],
    ['absolute, new', (d) => ({ path: path.join(d, n), expect: OK })],
    [
      'relative with .. segments',
      (d) => {
        mkdirSync(path.join(d, 'a'));
        return { path: `${rel(d)}/a/../${n}`, expect: OK, lands: path.join(d, n) };
      },
    ],
    ['missing parents', (d) => ({ path: path.join(d, 'p', 'q', n), expect: OK })],
    // A name the file system takes (< 255 bytes) whose temporary sibling's would not be.
    [
      'a long name (231-239 bytes)',
      (d) => ({ path: path.join(d, `${'é'.repeat(115)}${n}`), expect: OK }),
    ],
    [
      'trailing slash',
      (d) =>
        // build's --out is a layout directory unless it ends in .tar: with a slash it does not.
        cmd.name === 'build' && flag.id === 'out-tar'
          ? { path: `${path.join(d, n)}/`, expect: OK, lands: path.join(d, n), landsKind: 'dir' }
          : {
              path: `${path.join(d, n)}/`,
              // A trailing slash names a directory: a file output cannot be written there.
              expect: ext || dirOut ? OK : OVERLAP,
              lands: path.join(d, n),
            },
    ],
    [
      'an existing file',
      (d) => {
        writeFileSync(path.join(d, n), 'precious\n');
        return { path: path.join(d, n), expect: ext ? OK : EXISTS };
      },
    ],
    [
      'an existing non-empty directory',
      (d) => {
        mkdirSync(path.join(d, n));
        writeFileSync(path.join(d, n, 'keep'), 'precious\n');
        return { path: path.join(d, n), expect: ext ? OK : EXISTS };
      },
    ],
    [
      'an existing empty directory',
      (d) => {
        mkdirSync(path.join(d, n));
        return { path: path.join(d, n), expect: ext || dirOut ? OK : EXISTS };
      },
    ],
    [
      'a symlink to an empty directory',
      (d) => {
        mkdirSync(path.join(d, 'target'));
        symlinkSync('target', path.join(d, n));
        return {
          path: path.join(d, n),
          expect: ext || dirOut ? OK : EXISTS,
          lands: path.join(d, 'target'),
        };
      },
    ],
    [
      'a dangling symlink',
      (d) => {
        symlinkSync(path.join(d, 'nowhere', 'x'), path.join(d, n));
        return { path: path.join(d, n), expect: ext ? OK : EXISTS };
      },
    ],
    [
      'below a dangling symlink',
      (d) => {
        symlinkSync(path.join(d, 'nowhere'), path.join(d, 'dang'));
        return { path: path.join(d, 'dang', n), expect: ext ? OK : UNWRITABLE };
      },
    ],
  ];
  if (!ext) {
    shapes.push(
      ['an empty path', () => ({ path: '', expect: usage })],
      [
        'the same flag twice',
        (d) => ({ path: path.join(d, n), twice: path.join(d, `2-${n}`), expect: usage }),
      ],
    );
  }
  // Two outputs on one path: the tested flag and another the command has.
  const other = cmd.flags.find(
    (f) => f !== flag.id && !(flag.id.startsWith('out-') && f.startsWith('out-')),
  );
  if (other !== undefined)
    shapes.push([
      `on the same path as ${other}`,
      (d) => ({ path: path.join(d, n), sameAs: other, expect: OVERLAP }),
    ]);
  if (flag.id === 'json-out')
    shapes.push([
      'with a usage error',
      (d) => ({
        path: path.join(d, n),
        extra: USAGE_ERROR(cmd),
        expect: usage,
        holdsError: true,
      }),
    ]);
  if (flag.id === 'json-out')
    shapes.push([
      'with --json too',
      (d) => ({
        path: path.join(d, n),
        json: true,
        expect: OK,
        check: (t, r) => {
          t.equal(r.stdout, '', 'with --json-out the document goes to the file, not stdout');
          t.ok(readJsonOf(path.join(d, n)) !== undefined, 'the file holds the document');
        },
      }),
    ]);
  // Bazel: the workspace's bazel-out is a symlink into the output base; the layout is read as
  // bazel-out/.../base_layout.
  if (cmd.inputs.includes('layout')) {
    const bazelLayout = `bazel-out/${BAZEL_LAYOUT_IN}`;
    const real = path.join(w.BAZEL, BAZEL_LAYOUT_IN);
    shapes.push(
      [
        'Bazel: a sibling of the layout in bazel-out',
        () => {
          const p = `bazel-out/k8-fastbuild/bin/pkg/c${counter}-${n}`;
          return {
            path: p,
            inputs: { layout: bazelLayout },
            expect: OK,
            lands: path.join(w.IN, p),
          };
        },
      ],
      [
        'Bazel: inside the layout, by its path in the output base',
        () => ({ path: path.join(real, 'new'), inputs: { layout: bazelLayout }, expect: INSIDE }),
      ],
      [
        'Bazel: inside the layout through bazel-out, the layout by its real path',
        () => ({ path: `${bazelLayout}/new`, inputs: { layout: real }, expect: INSIDE }),
      ],
      [
        'Bazel: bazel-out/../bazel-out/... into the layout',
        () => ({
          path: `bazel-out/../bazel-out/k8-fastbuild/bin/pkg/base_layout${ext || dirOut ? '/new' : ''}`,
          inputs: { layout: bazelLayout },
          expect: INSIDE,
        }),
      ],
    );
  }
  return shapes.map(([shape, place]) => makeCase(w, cmd, flag, shape, place));
}

function readJsonOf(file: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/** The error code of a failed run: the --json document (stdout or --json-out), else stderr. */
function errorCode(r: CliResult, jsonOut?: string): string | undefined {
  const fromDoc = (doc: Record<string, unknown> | undefined): string | undefined =>
    (doc?.['error'] as { code?: string } | undefined)?.code;
  let doc: Record<string, unknown> | undefined;
  try {
    doc = JSON.parse(r.stdout) as Record<string, unknown>;
  } catch {
    doc = undefined;
  }
  return (
    fromDoc(doc) ??
    (jsonOut !== undefined ? fromDoc(readJsonOf(jsonOut)) : undefined) ??
    /^ocikit: error (OCIKIT_[A-Z_]+): /m.exec(r.stderr)?.[1]
  );
}

const STACK = /^\s+at .+:\d+:\d+\)?$|node:internal|TypeError|ReferenceError/m;

function checkCase(t: Test, c: Case, r: CliResult): void {
  const what = c.what;
  const diag = { args: c.args, stdout: r.stdout, stderr: r.stderr };
  t.notMatch(r.stderr, STACK, `${what}: no stack trace`, diag);
  const after = listTree(c.dir);
  t.same(tempSiblings(c.dir), [], `${what}: no temporary sibling left`);
  if ('ok' in c.expect) {
    if (!t.equal(r.code, 0, `${what}: exit 0`, diag)) return;
    if (c.lands !== undefined) {
      const st = lstatSync(c.lands.path, { throwIfNoEntry: false });
      t.ok(
        c.lands.kind === 'dir' ? st?.isDirectory() : st?.isFile(),
        `${what}: the output is a new ${c.lands.kind} at ${path.relative(c.dir, c.lands.path)}`,
      );
    }
    c.check?.(t, r);
    return;
  }
  t.equal(r.code, c.expect.code, `${what}: exit ${c.expect.code}`, diag);
  t.equal(
    errorCode(r, c.jsonOut && path.join(c.dir, c.jsonOut)),
    c.expect.error,
    `${what}: ${c.expect.error}`,
    diag,
  );
  const allowed = new Set(c.before);
  if (c.jsonOut !== undefined) {
    allowed.add(c.jsonOut);
    for (let d = path.dirname(c.jsonOut); d !== '.'; d = path.dirname(d)) allowed.add(d);
  }
  t.same(
    after.filter((p) => !allowed.has(p)),
    [],
    `${what}: nothing written${c.jsonOut !== undefined ? ' but --json-out' : ''}`,
  );
  t.same(
    c.before.filter((p) => !after.includes(p)),
    [],
    `${what}: nothing that was there removed`,
  );
}

function buildCorpus(w: World): Case[] {
  const corpus: Case[] = [];
  for (const cmd of COMMANDS) {
    for (const id of cmd.flags) {
      const flag = FLAGS[id];
      for (const x of cmd.inputs) corpus.push(...inputShapes(w, cmd, flag, x));
      corpus.push(...freeShapes(w, cmd, flag));
    }
  }
  return corpus;
}

/** The inputs and the layout in the Bazel output base, with mtimes, modes and content. */
function inputsSnapshot(w: World): string[] {
  return [...snapshotTree(w.IN), ...snapshotTree(path.join(w.BAZEL, BAZEL_LAYOUT_IN))];
}

t.test('every command × output flag × path shape, in-process', async (t) => {
  const w = await makeWorld(t);
  const corpus = buildCorpus(w);
  const before = inputsSnapshot(w);
  const started = Date.now();
  const results = await pool(
    corpus.map((c) => () => cli(c.args, c.cwd ?? w.IN, w.env)),
    8,
  );
  const pairs = COMMANDS.reduce((n, c) => n + c.flags.length, 0);
  t.comment(
    `${corpus.length} cells (${COMMANDS.length} commands, ${pairs} command × flag pairs) in ${Date.now() - started} ms`,
  );
  corpus.forEach((c, i) => checkCase(t, c, results[i] as CliResult));
  t.same(
    inputsSnapshot(w),
    before,
    'the inputs: paths, modes, mtimes, sizes and content unchanged',
  );
  t.same(tempSiblings(w.base), [], 'no temporary sibling anywhere');
  t.same(readdirSync(w.TMP), [], 'nothing left in TMPDIR');
});

t.test('a sample through the bundle: the same outcome, the exit-code contract', async (t) => {
  const w = await makeWorld(t);
  const corpus = buildCorpus(w);
  // Each command × flag once, the shapes rotated.
  const byPair = new Map<string, Case[]>();
  for (const c of corpus) {
    const key = c.what.split(' ').slice(0, 2).join(' ');
    byPair.set(key, [...(byPair.get(key) ?? []), c]);
  }
  const sample = [...byPair.values()].flatMap((cases, k) => {
    const picked = [cases[k % cases.length], cases[(k * 7 + 3) % cases.length]];
    return [...new Set(picked)] as Case[];
  });
  const before = inputsSnapshot(w);
  const run = bundled({ cwd: w.IN, env: w.env });
  const results = await pool(
    sample.map((c) => () => run(c.args)),
    4,
  );
  t.comment(`${sample.length} cells through ${path.relative(ROOT, BUNDLE)}`);
  sample.forEach((c, i) =>
    checkCase(t, { ...c, what: `bundle: ${c.what}` }, results[i] as CliResult),
  );
  t.same(inputsSnapshot(w), before, 'the inputs unchanged');
  t.same(tempSiblings(w.base), [], 'no temporary sibling anywhere');
  t.same(readdirSync(w.TMP), [], 'nothing left in TMPDIR');
});

t.test('an input by another path: a bind mount, a hard link (in-process)', async (t) => {
  if (!requireTool(t, 'bind-mount')) return;
  const mounts = new Mounts(t); // before the testdir: unmounted before tap removes it
  const w = await makeWorld(t);
  const MNT = path.join(w.base, 'mnt');
  mkdirSync(MNT);
  const corpus: Case[] = [];
  for (const cmd of COMMANDS) {
    for (const id of cmd.flags) {
      const flag = FLAGS[id];
      for (const x of cmd.inputs) {
        const X = path.join(w.IN, REL[x]);
        const holder = mounts.bind(path.dirname(X), MNT);
        const shapes: [string, () => Placed][] = [
          [
            `inside the ${x}, through a bind mount of its directory`,
            () => ({
              path: path.join(holder, path.basename(X), IS_DIR[x] ? 'new' : ''),
              expect: IS_DIR[x] && nests(flag, x) ? OK : INSIDE,
            }),
          ],
        ];
        if (IS_DIR[x])
          shapes.push([
            `inside the ${x}, through a bind mount of it`,
            () => ({
              path: path.join(mounts.bind(X, MNT), 'new', 'deep'),
              expect: nests(flag, x) ? OK : INSIDE,
            }),
          ]);
        else
          shapes.push([
            `a hard link of the ${x}`,
            () => {
              const hard = path.join(w.OUT, `hard-${counter}-${path.basename(X)}`);
              linkSync(X, hard);
              return { path: hard, expect: INSIDE };
            },
          ]);
        for (const [shape, place] of shapes) corpus.push(makeCase(w, cmd, flag, shape, place));
      }
    }
  }
  const before = inputsSnapshot(w);
  const results = await pool(
    corpus.map((c) => () => cli(c.args, w.IN, w.env)),
    8,
  );
  t.comment(`${corpus.length} cells`);
  corpus.forEach((c, i) => checkCase(t, c, results[i] as CliResult));
  t.same(inputsSnapshot(w), before, 'the inputs unchanged');
  t.same(tempSiblings(w.IN), [], 'no temporary sibling anywhere');
  t.same(readdirSync(w.TMP), [], 'nothing left in TMPDIR');
});

t.test('argument files (@FILE) are inputs too, through the bundle', async (t) => {
  const w = await makeWorld(t);
  const dir = path.join(w.IN, 'argfiles');
  mkdirSync(dir);
  const argfile = (name: string, lines: string[]): string => {
    writeFileSync(path.join(dir, name), `${lines.join('\n')}\n`);
    return `@argfiles/${name}`;
  };
  const cases: { what: string; argv: string[]; error: string }[] = [
    {
      what: '--json-out is the argument file',
      argv: [argfile('a1', ['resolve', REL.layout, '--tag', 'multi', '--json-out', 'argfiles/a1'])],
      error: 'OCIKIT_OUT_INSIDE_INPUT',
    },
    {
      what: 'pack --out is the argument file',
      argv: [argfile('a2', ['pack', REL.layout, '--out', 'argfiles/a2'])],
      error: 'OCIKIT_OUT_INSIDE_INPUT',
    },
    {
      what: '--out holds the argument file',
      argv: [argfile('a3', ['unpack', REL.archive, '--out', 'argfiles'])],
      error: 'OCIKIT_OUT_INSIDE_INPUT',
    },
    {
      what: 'the second argument file is --json-out',
      argv: [argfile('a4', ['inspect', REL.layout]), argfile('a5', ['--json-out', 'argfiles/a5'])],
      error: 'OCIKIT_OUT_INSIDE_INPUT',
    },
  ];
  const before = [...inputsSnapshot(w)];
  const run = bundled({ cwd: w.IN, env: w.env });
  for (const c of cases) {
    const r = await run(c.argv);
    t.equal(r.code, 1, `${c.what}: exit 1`, { stderr: r.stderr });
    t.equal(errorCode(r), c.error, `${c.what}: ${c.error}`, { stderr: r.stderr });
    t.notMatch(r.stderr, STACK, `${c.what}: no stack trace`);
  }
  t.same(inputsSnapshot(w), before, 'the argument files and the inputs unchanged');
  t.same(tempSiblings(w.base), [], 'no temporary sibling anywhere');
});

t.test(`an output in a read-only directory, as uid ${NOBODY}, through the bundle`, async (t) => {
  if (!requireTool(t, 'setpriv')) return;
  // A world nobody can read: a fresh 0755 directory, the bundle and the scripted docker copied.
  const base = mkdtempSync(path.join(os.tmpdir(), 'ocikit-wgm-'));
  chmodSync(base, 0o755);
  t.teardown(() => rmSync(base, { recursive: true, force: true }));
  const w = await makeWorld(t, base);
  const script = path.join(base, 'ocikit.cjs');
  cpSync(BUNDLE, script);
  walkTree(base, (abs, isDir) => {
    if (!lstatSync(abs).isSymbolicLink()) chmodSync(abs, isDir ? 0o755 : 0o644);
  });
  const ro = path.join(w.OUT, 'ro');
  mkdirSync(ro, { mode: 0o555 });
  chmodSync(ro, 0o555);
  runTool('chown', [`${NOBODY}:${NOBODY}`, w.TMP]);
  const can = runTool(AS_NOBODY[0] as string, [
    ...AS_NOBODY.slice(1),
    process.execPath,
    '-e',
    `require('fs').writeFileSync(${JSON.stringify(path.join(ro, 'probe'))}, '')`,
  ]);
  t.not(can.code, 0, `uid ${NOBODY} cannot create files in the read-only directory`);
  const run = bundled({ cwd: w.IN, env: w.env, prefix: AS_NOBODY, script });
  const before = inputsSnapshot(w);
  const cases = COMMANDS.flatMap((cmd) =>
    cmd.flags
      .filter((id) => FLAGS[id].kind !== 'external')
      .map((id) => {
        const others = cmd.needs
          .filter((n) => n !== id && !(n.startsWith('out-') && id.startsWith('out-')))
          .flatMap((n) =>
            FLAGS[n].args(path.join(w.OUT, `elsewhere-${cmd.name}-${id}`, FLAGS[n].name)),
          );
        return {
          what: `${cmd.name} ${id} in a read-only directory`,
          args: [
            ...cmd.head(REL),
            ...others,
            ...FLAGS[id].args(path.join(ro, 'deep', FLAGS[id].name)),
            ...(cmd.tail?.(REL) ?? []),
          ],
        };
      }),
  );
  const results = await pool(
    cases.map((c) => () => run(c.args)),
    4,
  );
  cases.forEach((c, i) => {
    const r = results[i] as CliResult;
    t.equal(r.code, 1, `${c.what}: exit 1`, { stderr: r.stderr });
    t.equal(errorCode(r), 'OCIKIT_OUT_UNWRITABLE', `${c.what}: OCIKIT_OUT_UNWRITABLE`, {
      stderr: r.stderr,
    });
    t.notMatch(r.stderr, STACK, `${c.what}: no stack trace`);
  });
  t.same(readdirSync(ro), [], 'nothing in the read-only directory');
  const elsewhere = readdirSync(w.OUT).filter((n) => n.startsWith('elsewhere-'));
  t.same(
    elsewhere.flatMap((n) => listTree(path.join(w.OUT, n))),
    [],
    'the other outputs not written',
  );
  t.same(inputsSnapshot(w), before, 'the inputs unchanged');
  t.same(tempSiblings(base), [], 'no temporary sibling anywhere');
  t.same(readdirSync(w.TMP), [], 'nothing left in TMPDIR');
});
