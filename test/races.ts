/**
 * Concurrent writers (issue 9): 16 runs of the bundled CLI write the same destination at once.
 * For every writing command, to a destination that does not exist yet (nor its parent) and,
 * for directory outputs, to one that exists as an empty directory (Bazel's declared output
 * directories): exactly one run exits 0, fifteen exit 1 with OCIKIT_OUT_NOT_EMPTY in their
 * `--json` error document, the winner's output is complete and valid, and no `.ocikit-tmp-*`
 * (nor a scratch directory in TMPDIR) is left anywhere. The workload is large enough that most
 * runs are still writing when the first commits, so the race is decided at commit time.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { unpackArchive } from '../src/archive/unpack.js';
import { openLayout } from '../src/layout/layout.js';
import { verifyLayout } from '../src/layout/verify.js';
import { ROOT } from './helpers/cli.js';
import { LayoutBuilder, standardLayout, tagged } from './helpers/layout-builder.js';
import {
  jsonErrorCode,
  manyBlobLayout,
  runBundle,
  tempSiblings,
  type RunResult,
} from './helpers/outputs.js';

const WRITERS = 16;
const FAKE_DOCKER = path.join(ROOT, 'test/fixtures/fake-docker.mjs');

type Test = Parameters<Parameters<typeof t.test>[0]>[0];

async function verifies(t: Test, dir: string, what: string): Promise<void> {
  const report = await verifyLayout(await openLayout(dir));
  t.ok(report.ok, `${what} verifies`, { problems: report.problems });
}

// --- fixtures, shared by every race ---------------------------------------------------------

const root = t.testdir({
  app: { Dockerfile: 'FROM base\nCOPY hello.txt /\n', 'hello.txt': 'hi\n' },
  home: {},
});
const layout = path.join(root, 'layout');
const { manifest } = manyBlobLayout(layout, 100, 1 << 20);
const base = path.join(root, 'base');
standardLayout(base);
// What the scripted docker "builds": a layout it copies to buildx's --output.
const product = path.join(root, 'product');
const pb = new LayoutBuilder(product);
const built = pb.image({
  platform: { os: 'linux', architecture: 'amd64' },
  layers: [{ 'hello.txt': 'hi\n' }],
});
pb.writeIndex([tagged(built, 'latest')]);
const archive = path.join(root, 'layout.tar');
const app = path.join(root, 'app');

interface Race {
  name: string;
  /** Output kind of the contested path. */
  kind: 'dir' | 'file';
  /** The CLI arguments of writer `i` writing `dest` (absolute). */
  argv: (dest: string, i: number, dir: string) => string[];
  env?: (tmp: string) => Record<string, string>;
  /** The winner's output is complete and valid. */
  check: (t: Test, dest: string, winner: number, dir: string) => Promise<void>;
  /** Other outputs of writer `i` that must not exist for a loser (all or nothing). */
  ownOutputs?: (i: number, dir: string) => string[];
}

const buildx = ['--buildx-version', '0.13.1'];

const races: Race[] = [
  {
    name: 'context --out (thin copy)',
    kind: 'dir',
    argv: (dest) => [
      'context',
      ...buildx,
      '--mode',
      'thin',
      `base=${layout}:latest`,
      '--out',
      dest,
    ],
    check: async (t, dest) => verifies(t, path.join(dest, 'base'), 'the thin copy'),
  },
  {
    name: 'context --out (archive context, unpacked)',
    kind: 'dir',
    argv: (dest) => ['context', ...buildx, `base=${archive}:latest`, '--out', dest],
    check: async (t, dest) => verifies(t, path.join(dest, 'base'), 'the unpacked context'),
  },
  {
    name: 'buildx-args --out',
    kind: 'dir',
    argv: (dest) => [
      'buildx-args',
      ...buildx,
      '--build-context',
      `base=${archive}:latest`,
      '--out',
      dest,
      app,
    ],
    check: async (t, dest) => verifies(t, path.join(dest, 'base'), 'the context'),
  },
  {
    name: 'buildx-args --args-file (each writer its own --out)',
    kind: 'file',
    argv: (dest, i, dir) => [
      'buildx-args',
      ...buildx,
      '--build-context',
      `base=${archive}:latest`,
      '--out',
      path.join(dir, `ctx-${i}`),
      '--args-file',
      dest,
      app,
    ],
    check: async (t, dest, winner, dir) => {
      // The args file holds the argv (--format json), with or without --json.
      const argv = JSON.parse(readFileSync(dest, 'utf8')) as string[];
      const ctx = path.join(dir, `ctx-${winner}`);
      t.ok(
        argv.some((a) => a.startsWith(`base=oci-layout://${ctx}/base:latest@sha256:`)),
        "the args file names the winner's context",
      );
      await verifies(t, path.join(ctx, 'base'), "the winner's context");
    },
    ownOutputs: (i, dir) => [path.join(dir, `ctx-${i}`)],
  },
  {
    name: 'build --out (layout)',
    kind: 'dir',
    argv: (dest) => buildArgv(dest),
    env: buildEnv,
    check: async (t, dest) => verifies(t, dest, 'the build result'),
  },
  {
    name: 'build --out (tarball)',
    kind: 'file',
    argv: (dest) => buildArgv(`${dest}.tar`),
    env: buildEnv,
    check: async (t, dest, _w, dir) => unpacks(t, `${dest}.tar`, path.join(dir, 'check')),
  },
  {
    name: 'index --out',
    kind: 'dir',
    argv: (dest) => ['index', '--out', dest, `${layout}:latest`, '--tag', 'all'],
    check: async (t, dest) => verifies(t, dest, 'the merged layout'),
  },
  {
    name: 'pack --out',
    kind: 'file',
    argv: (dest) => ['pack', layout, '--out', dest],
    check: async (t, dest, _w, dir) => {
      t.same(readFileSync(dest), readFileSync(archive), 'byte-identical to a lone pack');
      await unpacks(t, dest, path.join(dir, 'check'));
    },
  },
  {
    name: 'pack --gzip --out',
    kind: 'file',
    argv: (dest) => ['pack', layout, '--gzip', '--out', dest],
    check: async (t, dest, _w, dir) => unpacks(t, dest, path.join(dir, 'check')),
  },
  {
    name: 'unpack --out',
    kind: 'dir',
    argv: (dest) => ['unpack', archive, '--out', dest],
    check: async (t, dest) => verifies(t, dest, 'the unpacked layout'),
  },
  {
    // The race is for --json-out, at commit time (index works a while first): a loser's
    // --out goes too, and its error document still reaches stdout (--json).
    name: 'index --json-out (each writer its own --out)',
    kind: 'file',
    argv: (dest, i, dir) => [
      'index',
      '--out',
      path.join(dir, `merged-${i}`),
      `${layout}:latest`,
      '--json-out',
      dest,
    ],
    check: async (t, dest, winner, dir) => {
      const doc = JSON.parse(readFileSync(dest, 'utf8')) as { out?: string };
      t.equal(doc.out, path.join(dir, `merged-${winner}`), "the document is the winner's");
      await verifies(t, path.join(dir, `merged-${winner}`), "the winner's layout");
    },
    ownOutputs: (i, dir) => [path.join(dir, `merged-${i}`)],
  },
  {
    name: 'resolve --json-out',
    kind: 'file',
    argv: (dest) => ['resolve', layout, '--json-out', dest],
    check: async (t, dest) => {
      const doc = JSON.parse(readFileSync(dest, 'utf8')) as { descriptor?: { digest?: string } };
      t.equal(doc.descriptor?.digest, manifest.digest, 'the --json-out document is the result');
    },
  },
];

function buildArgv(out: string): string[] {
  return [
    'build',
    '--docker',
    FAKE_DOCKER,
    ...buildx,
    '--build-context',
    `base=${base}:multi`,
    '--platform',
    'linux/amd64',
    '--progress',
    'quiet',
    '--no-preflight',
    '--out',
    out,
    app,
  ];
}

function buildEnv(tmp: string): Record<string, string> {
  return {
    TMPDIR: tmp,
    HOME: path.join(root, 'home'),
    FAKE_MODE: 'ok',
    FAKE_LAYOUT: product,
    FAKE_DIGEST: built.digest,
  };
}

async function unpacks(t: Test, archiveFile: string, into: string): Promise<void> {
  await unpackArchive(archiveFile, into);
  await verifies(t, into, 'the archive, unpacked');
}

t.before(async () => {
  const r = await runBundle(['pack', layout, '--out', archive]);
  if (r.code !== 0) throw new Error(`pack of the fixture failed: ${r.stderr}`);
});

async function race(t: Test, r: Race, existing: boolean): Promise<void> {
  const dir = path.join(root, 'races', `${r.name.replace(/[^a-z0-9]+/gi, '-')}-${existing}`);
  const tmp = path.join(dir, 'tmp');
  mkdirSync(tmp, { recursive: true });
  // Not there yet, nor its parent (the writers race to create that too); or an empty directory.
  const dest = path.join(dir, 'out', existing ? 'dest' : 'new/dest');
  if (existing) mkdirSync(dest, { recursive: true });
  const env = { TMPDIR: tmp, ...(r.env?.(tmp) ?? {}) };
  const results: RunResult[] = await Promise.all(
    Array.from({ length: WRITERS }, (_, i) =>
      runBundle(['--json', ...r.argv(dest, i, dir)], { cwd: dir, env }),
    ),
  );
  const winners = results.flatMap((res, i) => (res.code === 0 ? [i] : []));
  t.equal(winners.length, 1, 'exactly one writer wins', {
    exits: results.map((res) => res.code),
  });
  const losers = results.filter((res) => res.code !== 0);
  t.same(
    losers.map((res) => res.code),
    Array(WRITERS - 1).fill(1),
    'the others exit 1',
  );
  t.same(
    losers.map((res) => jsonErrorCode(res.stdout)),
    Array(WRITERS - 1).fill('OCIKIT_OUT_NOT_EMPTY'),
    'with OCIKIT_OUT_NOT_EMPTY',
    { stdout: losers.map((res) => res.stdout.slice(0, 300)) },
  );
  const atCommit = losers.filter((res) => /appeared while ocikit wrote it/.test(res.stdout)).length;
  t.comment(`${r.name}: ${atCommit} of ${WRITERS - 1} lost at commit, the rest when they started`);
  t.ok(
    results.every((res) => !/OCIKIT_INTERNAL/.test(res.stdout + res.stderr)),
    'no OCIKIT_INTERNAL',
  );
  const winner = winners[0];
  if (winner !== undefined) await r.check(t, dest, winner, dir);
  t.same(tempSiblings(dir), [], 'no temporary sibling anywhere');
  t.same(readdirSync(tmp), [], 'no scratch directory left in TMPDIR');
  if (r.ownOutputs !== undefined) {
    const left = results.flatMap((res, i) =>
      res.code === 0 ? [] : (r.ownOutputs?.(i, dir) ?? []).filter((p) => existsSync(p)),
    );
    t.same(left, [], "no loser's other outputs left (all or nothing)");
  }
}

for (const r of races) {
  t.test(`${WRITERS} writers, new destination: ${r.name}`, (t) => race(t, r, false));
  if (r.kind === 'dir')
    t.test(`${WRITERS} writers, existing empty directory: ${r.name}`, (t) => race(t, r, true));
}
