/**
 * PROBLEMS.md §1, proved with a real buildx (issue 3 item 5), for the suite named by
 * OCIKIT_E2E_SUITE (trixie: buildx 0.13.1; forky: buildx 0.29.1; test/e2e/run.sh runs this
 * file once per suite with that suite's daemon).
 *
 * For each layout producer (our LayoutBuilder, umoci, skopeo, buildx's own --output type=oci,
 * single- and multi-platform, one platform FROM scratch, one with attestation manifests):
 *   - read-only bind mount, as root;
 *   - a 0555/0444 tree, as uid 65534 (setpriv; ocikit runs as that uid too);
 * and, on the LayoutBuilder layout, a read-only mount whose layout already has `ingest/`, one
 * whose path contains ':' (buildx < 0.32 cuts refs at the first ':'), and a plain writable tree
 * as root. In each case:
 *   1. `ocikit buildx-args ... --buildx-version auto` (auto detects the suite's buildx through
 *      the suite's docker on PATH), `--json` says which version and strategy; the argv it
 *      prints is executed as is, must build a FROM base + COPY Dockerfile into
 *      `-o type=oci,dest=OUT,tar=false`, OUT holds the base's files plus the COPY'd one per
 *      platform and passes `ocikit verify`;
 *   2. plain buildx with a tag-only ref `oci-layout://LAYOUT:TAG` does what EXPECT says for
 *      this suite (observed behaviour, not wishes);
 *   3. the input tree is byte-identical afterwards (paths, modes, mtimes, sizes, sha256).
 * Each case prints one `OBSERVED ...` comment line; run.sh collects them into a matrix.
 */
import t from 'tap';
import {
  chmodSync,
  chownSync,
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  realpathSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BUNDLE } from './helpers/paths.js';
import { standardLayout } from '../helpers/layout-builder.js';
import { NOBODY, isCI, mustRun, requireTool, runTool } from '../helpers/tools.js';
import { snapshotTree } from '../helpers/tree.js';
import { errorLine, run, secs, tail, type Ran } from './helpers/exec.js';
import { Mounts, mountsUnder, unmount } from './helpers/mounts.js';
import { imagesOf, indexEntries, normPlatform, readJson, type Desc } from './helpers/oci.js';
import {
  asNobodyWithDocker,
  loadSuite,
  nobodyClientEnv,
  type Suite,
  type SuiteDaemon,
} from './helpers/suite.js';

type Test = Parameters<Parameters<typeof t.test>[0]>[0];

// ---------------------------------------------------------------------------------------------
// What each suite does. Observed on these machines (see shared/notes/buildx.md) and asserted
// as observed: a change in buildx shows up here as a failing row, not as a silent pass.

/** The cases a layout is used in. */
type CaseName =
  'ro-mount' | 'ro-mount+ingest' | 'ro-mount-colon-path' | 'nobody-0555' | 'writable-root';
type Strategy = 'in-place' | 'thin';

/** What plain buildx does with a tag-only ref (`oci-layout://LAYOUT:TAG`, no digest). */
type PlainOutcome =
  | {
      builds: true;
      /** the input's directory mtime moves (lock file created and removed) */ touchesInput: boolean;
    }
  | { builds: false; error: RegExp };

interface SuiteExpectation {
  /** What `docker buildx version` reports (and ocikit --buildx-version auto must detect). */
  buildx: string;
  plainTagRef: Record<CaseName, PlainOutcome>;
  /** The strategy ocikit picks for the case, by whether the layout has an `ingest/` directory. */
  strategy: Record<CaseName, { noIngest: Strategy; ingest: Strategy }>;
  /** A multi-platform `--output type=oci` build where one platform is FROM scratch (§2). */
  scratchPlatformOutput: 'builds' | 'crashes';
}

const LOCK_EROFS =
  /could not lock \S*index\.json\.lock: open \S*index\.json\.lock: read-only file system/;
const LOCK_EACCES =
  /could not lock \S*index\.json\.lock: open \S*index\.json\.lock: permission denied/;
/** The ref `/x/ro:colon:TAG` is cut at the first ':': the lock is looked for in `/x/ro`. */
const LOCK_CUT_AT_COLON =
  /could not lock \S*\/ro\/index\.json\.lock: open \S*\/ro\/index\.json\.lock: no such file or directory/;

const EXPECT: Record<Suite, SuiteExpectation> = {
  trixie: {
    buildx: '0.13.1',
    plainTagRef: {
      'ro-mount': { builds: false, error: LOCK_EROFS },
      'ro-mount+ingest': { builds: false, error: LOCK_EROFS },
      'ro-mount-colon-path': { builds: false, error: LOCK_CUT_AT_COLON },
      'nobody-0555': { builds: false, error: LOCK_EACCES },
      'writable-root': { builds: true, touchesInput: true },
    },
    strategy: {
      // The model: buildx < 0.19 may create ingest/ (conservative for Debian's 0.13.1, built
      // with containerd 1.7.24), so in place only where ingest/ exists (buildx outputs have it).
      'ro-mount': { noIngest: 'thin', ingest: 'in-place' },
      'ro-mount+ingest': { noIngest: 'in-place', ingest: 'in-place' },
      'ro-mount-colon-path': { noIngest: 'thin', ingest: 'thin' }, // a thin copy at a path without ':'
      'nobody-0555': { noIngest: 'thin', ingest: 'in-place' },
      'writable-root': { noIngest: 'thin', ingest: 'in-place' },
    },
    scratchPlatformOutput: 'crashes', // BuildKit gateway client nil reference (SIGSEGV), PROBLEMS §2
  },
  forky: {
    buildx: '0.29.1',
    plainTagRef: {
      'ro-mount': { builds: true, touchesInput: false }, // EROFS on the lock is tolerated
      'ro-mount+ingest': { builds: true, touchesInput: false },
      'ro-mount-colon-path': { builds: false, error: LOCK_CUT_AT_COLON }, // parser cuts at the first ':' (< 0.32)
      'nobody-0555': { builds: false, error: LOCK_EACCES }, // EACCES is not tolerated
      'writable-root': { builds: true, touchesInput: true },
    },
    strategy: {
      // Not writable: no fs-verity probe, and the pinned digest takes no lock.
      'ro-mount': { noIngest: 'in-place', ingest: 'in-place' },
      'ro-mount+ingest': { noIngest: 'in-place', ingest: 'in-place' },
      // buildx < 0.32 cuts the ref at the first ':': a thin copy at a path without ':'.
      'ro-mount-colon-path': { noIngest: 'thin', ingest: 'thin' },
      'nobody-0555': { noIngest: 'in-place', ingest: 'in-place' },
      // Writable: the fs-verity probe would create a directory in it.
      'writable-root': { noIngest: 'thin', ingest: 'thin' },
    },
    scratchPlatformOutput: 'builds',
  },
};

// ---------------------------------------------------------------------------------------------
// The suite and the work directory.

const loaded = loadSuite();
const ADDED = 'added by the FROM base + COPY build\n';
const KEEP = process.env['OCIKIT_E2E_KEEP'] === '1';

function prerequisite(t: Test): SuiteDaemon | undefined {
  if ('problem' in loaded) {
    if (isCI())
      t.fail(
        `missing prerequisite "buildx daemon": ${loaded.problem}. CI=true: a missing prerequisite is a failure.`,
      );
    else t.plan(0, `missing prerequisite "buildx daemon": ${loaded.problem}`);
    return undefined;
  }
  return loaded;
}

function newWorkDir(): string {
  const parent = process.env['OCIKIT_E2E_TMP'] ?? os.tmpdir();
  mkdirSync(parent, { recursive: true });
  const suite = 'problem' in loaded ? 'none' : loaded.suite;
  const dir = mkdtempSync(path.join(parent, `ocikit-e2e-${suite}-`));
  chmodSync(dir, 0o755); // uid 65534 must reach the trees, the client and its outputs
  return dir;
}

const WORK = newWorkDir();
t.teardown(() => {
  const left = mountsUnder(WORK);
  for (const mp of left.reverse()) unmount(mp); // never rm through a mount
  if (KEEP) console.error(`# kept ${WORK}`);
  else rmSync(WORK, { recursive: true, force: true });
});

/** The bundle, or a copy uid 65534 can read. */
function bundleFor(home: string): string {
  try {
    const probe = runTool('setpriv', [
      `--reuid=${NOBODY}`,
      `--regid=${NOBODY}`,
      '--clear-groups',
      process.execPath,
      '-e',
      `require('fs').accessSync(${JSON.stringify(BUNDLE)}, 4)`,
    ]);
    if (probe.code === 0) return BUNDLE;
  } catch {
    // fall through
  }
  const copy = path.join(home, 'ocikit.cjs');
  if (!existsSync(copy)) {
    copyFileSync(BUNDLE, copy);
    chmodSync(copy, 0o444);
  }
  return copy;
}

// ---------------------------------------------------------------------------------------------
// Clients: root with the suite's env, or uid 65534 with its own DOCKER_CONFIG.

interface Client {
  who: 'root' | 'nobody';
  env: NodeJS.ProcessEnv;
  prefix: string[];
  /** Where this client may write (outputs, thin copies). */
  home: string;
  bundle: string;
}

function rootClient(d: SuiteDaemon, home: string): Client {
  mkdirSync(home, { recursive: true });
  return { who: 'root', env: d.env, prefix: [], home, bundle: BUNDLE };
}

function nobodyClient(d: SuiteDaemon, home: string): Client {
  mkdirSync(home, { recursive: true });
  const env = nobodyClientEnv(d, home);
  chownSync(home, NOBODY, NOBODY);
  return { who: 'nobody', env, prefix: asNobodyWithDocker(d), home, bundle: bundleFor(home) };
}

function docker(c: Client, args: string[]): Ran {
  return run(['docker', ...args], { env: c.env, prefix: c.prefix, cwd: c.home });
}

function ocikit(c: Client, args: string[]): Ran {
  return run([process.execPath, c.bundle, ...args], { env: c.env, prefix: c.prefix, cwd: c.home });
}

// ---------------------------------------------------------------------------------------------
// Layout producers.

interface Produced {
  /** The tag the consumer refers to. */
  tag: string;
  /** --platform of the consumer build. */
  platforms: string[];
  /** Files of the base image per platform (a scratch platform has none). */
  base: Record<string, Record<string, string>>;
  /** Attestation manifests expected in the input index. */
  attestations: boolean;
}

interface Producer {
  id: string;
  title: string;
  tools: string[];
  /** Also run the ro-mount+ingest and writable-root cases. */
  allCases: boolean;
  make(t: Test, d: SuiteDaemon, dir: string, scratch: string): Produced | undefined;
}

const BUILDER_BASE = { 'linux/amd64': { 'hello.txt': 'hello from amd64\n' }, 'linux/arm64': {} };

/** A producer build with the suite's buildx, as root, into `dest`. */
function produceWithBuildx(
  t: Test,
  d: SuiteDaemon,
  scratch: string,
  name: string,
  dockerfile: string,
  args: string[],
  dest: string,
): Ran {
  const ctx = path.join(scratch, `${name}-ctx`);
  mkdirSync(ctx, { recursive: true });
  writeFileSync(path.join(ctx, 'hello.txt'), 'hello from buildx\n');
  writeFileSync(path.join(ctx, 'Dockerfile'), dockerfile);
  return docker(rootClient(d, scratch), [
    'buildx',
    'build',
    '--progress=plain',
    ...args,
    '-o',
    `type=oci,dest=${dest},tar=false`,
    ctx,
  ]);
}

const PRODUCERS: Producer[] = [
  {
    id: 'builder',
    title: 'LayoutBuilder: index of linux/amd64 (1 layer) + linux/arm64 (FROM scratch, 0 layers)',
    tools: [],
    allCases: true,
    make(_t, _d, dir) {
      standardLayout(dir);
      return {
        tag: 'multi',
        platforms: ['linux/amd64', 'linux/arm64'],
        base: BUILDER_BASE,
        attestations: false,
      };
    },
  },
  {
    id: 'umoci',
    title: 'umoci init/new/insert: single-platform image, 2 layers',
    tools: ['umoci'],
    allCases: false,
    make(_t, _d, dir, scratch) {
      const src = path.join(scratch, 'umoci-src');
      mkdirSync(src, { recursive: true });
      writeFileSync(path.join(src, 'hello.txt'), 'hello from umoci\n');
      writeFileSync(path.join(src, 'two.txt'), 'second umoci layer\n');
      const umoci = (...args: string[]): void =>
        void mustRun('umoci', args, { cwd: path.dirname(dir) });
      const L = path.basename(dir);
      umoci('init', '--layout', L);
      umoci('new', '--image', `${L}:v1`);
      umoci('insert', '--image', `${L}:v1`, path.join(src, 'hello.txt'), '/hello.txt');
      umoci('insert', '--image', `${L}:v1`, path.join(src, 'two.txt'), '/etc/ocikit/two.txt');
      return {
        tag: 'v1',
        platforms: ['linux/amd64'],
        base: {
          'linux/amd64': {
            'hello.txt': 'hello from umoci\n',
            'etc/ocikit/two.txt': 'second umoci layer\n',
          },
        },
        attestations: false,
      };
    },
  },
  {
    id: 'skopeo',
    title: 'skopeo copy --all of the LayoutBuilder index into a new oci: layout',
    tools: ['skopeo'],
    allCases: false,
    make(_t, _d, dir, scratch) {
      const src = path.join(scratch, 'skopeo-src');
      standardLayout(src);
      mustRun('skopeo', [
        '--insecure-policy',
        'copy',
        '--quiet',
        '--all',
        `oci:${src}:multi`,
        `oci:${dir}:copied`,
      ]);
      return {
        tag: 'copied',
        platforms: ['linux/amd64', 'linux/arm64'],
        base: BUILDER_BASE,
        attestations: false,
      };
    },
  },
  {
    id: 'buildx-single',
    title: 'buildx --output type=oci: FROM scratch + COPY, linux/amd64, --provenance=false',
    tools: [],
    allCases: false,
    make(t, d, dir, scratch) {
      const r = produceWithBuildx(
        t,
        d,
        scratch,
        'single',
        'FROM scratch\nCOPY hello.txt /hello.txt\n',
        ['--provenance=false', '--platform', 'linux/amd64'],
        dir,
      );
      if (!t.equal(r.code, 0, 'buildx produced the layout', { stderr: tail(r.stderr) }))
        return undefined;
      return {
        tag: 'latest',
        platforms: ['linux/amd64'],
        base: { 'linux/amd64': { 'hello.txt': 'hello from buildx\n' } },
        attestations: false,
      };
    },
  },
  {
    id: 'buildx-multi',
    title:
      'buildx --output type=oci: linux/amd64 + linux/arm64 with provenance (attestation manifests in the index)',
    tools: [],
    allCases: false,
    make(t, d, dir, scratch) {
      // First choice: arm64 FROM scratch (an empty platform result, PROBLEMS §2).
      const scratchDockerfile =
        'FROM scratch AS base-amd64\nCOPY hello.txt /hello.txt\nFROM scratch AS base-arm64\nFROM base-${TARGETARCH}\n';
      const tryDir = path.join(scratch, 'scratch-platform-output');
      const r = produceWithBuildx(
        t,
        d,
        scratch,
        'multi-scratch',
        scratchDockerfile,
        ['--platform', 'linux/amd64,linux/arm64'],
        tryDir,
      );
      const want = EXPECT[d.suite].scratchPlatformOutput;
      const observed =
        r.code === 0
          ? 'builds'
          : /nil pointer dereference[\s\S]*grpcclient\.convertRef/.test(r.stderr)
            ? 'crashes'
            : `fails: ${errorLine(r.stderr)}`;
      t.comment(
        `OBSERVED suite=${d.suite} producer=buildx-multi: multi-platform --output type=oci with a FROM scratch platform: ${observed} (exit ${r.code}, ${secs(r.ms)})`,
      );
      t.equal(
        observed,
        want,
        `buildx ${EXPECT[d.suite].buildx}: a multi-platform output with a scratch platform ${want}`,
        { stderr: tail(r.stderr) },
      );
      if (r.code === 0) {
        mustRun('cp', ['-a', tryDir, dir]);
        return {
          tag: 'latest',
          platforms: ['linux/amd64', 'linux/arm64'],
          base: { 'linux/amd64': { 'hello.txt': 'hello from buildx\n' }, 'linux/arm64': {} },
          attestations: true,
        };
      }
      // This buildx cannot write a scratch platform: both platforms get the file.
      const r2 = produceWithBuildx(
        t,
        d,
        scratch,
        'multi',
        'FROM scratch\nCOPY hello.txt /hello.txt\n',
        ['--platform', 'linux/amd64,linux/arm64'],
        dir,
      );
      if (
        !t.equal(r2.code, 0, 'buildx produced the layout (no scratch platform)', {
          stderr: tail(r2.stderr),
        })
      )
        return undefined;
      const f = { 'hello.txt': 'hello from buildx\n' };
      return {
        tag: 'latest',
        platforms: ['linux/amd64', 'linux/arm64'],
        base: { 'linux/amd64': f, 'linux/arm64': f },
        attestations: true,
      };
    },
  },
];

// ---------------------------------------------------------------------------------------------
// Checks.

/** The index.json entry with this tag (read without ocikit). */
function taggedRoot(dir: string, tag: string): Desc | undefined {
  return indexEntries(dir).find(
    (e) =>
      e.annotations?.['org.opencontainers.image.ref.name'] === tag ||
      e.annotations?.['io.containerd.image.name'] === tag,
  );
}

/** The build result: one index.json entry (= metadata digest), per platform the base files + the COPY'd one. */
function checkOutput(t: Test, out: string, meta: string, p: Produced, c: Client): void {
  const entries = indexEntries(out);
  t.equal(entries.length, 1, 'output index.json has one entry');
  const root = entries[0];
  if (root === undefined) return;
  if (existsSync(meta)) {
    t.equal(
      readJson(meta)['containerimage.digest'],
      root.digest,
      'metadata containerimage.digest == output index.json digest',
    );
  } else t.fail(`no metadata file ${meta}`);
  const images = imagesOf(out, root).filter((i) => !i.attestation);
  t.same(
    images.map((i) => normPlatform(i.platform)).sort(),
    [...p.platforms].sort(),
    `output platforms: ${p.platforms.join(', ')}`,
  );
  for (const img of images) {
    const plat = normPlatform(img.platform);
    t.same(
      img.files,
      { ...(p.base[plat] ?? {}), 'added.txt': ADDED },
      `${plat}: the base's files + added.txt (COPY) and nothing else`,
    );
  }
  const v = ocikit(c, ['verify', out, '--json']);
  t.equal(v.code, 0, 'ocikit verify OUT: exit 0', {
    stdout: tail(v.stdout),
    stderr: tail(v.stderr),
  });
  if (v.code === 0)
    t.same(
      (JSON.parse(v.stdout) as { problems: unknown[] }).problems,
      [],
      'ocikit verify OUT: no problems',
    );
}

/** Lines of two snapshots that differ, by path. */
function changedPaths(before: string[], after: string[]): string[] {
  const key = (l: string): string => l.slice(0, l.indexOf(' mode='));
  const a = new Map(before.map((l) => [key(l), l]));
  const b = new Map(after.map((l) => [key(l), l]));
  return [...new Set([...a.keys(), ...b.keys()])].filter((k) => a.get(k) !== b.get(k)).sort();
}

function chmodTree(root: string): void {
  const st = lstatSync(root);
  if (st.isSymbolicLink()) return;
  if (st.isDirectory()) {
    for (const name of readdirSync(root)) chmodTree(path.join(root, name));
    chmodSync(root, 0o555);
  } else chmodSync(root, 0o444);
}

// ---------------------------------------------------------------------------------------------
// One case: a produced layout, used by ocikit and by plain buildx in one setting.

async function runCase(
  t: Test,
  d: SuiteDaemon,
  producer: Producer,
  p: Produced,
  src: string,
  caseName: CaseName,
  work: string,
  ctx: string,
): Promise<void> {
  const exp = EXPECT[d.suite];
  if (
    !requireTool(
      t,
      caseName === 'nobody-0555' ? 'setpriv' : caseName === 'writable-root' ? 'root' : 'bind-mount',
    )
  )
    return;
  const dir = path.join(work, caseName);
  mkdirSync(dir);
  const mounts = caseName.startsWith('ro-mount') ? new Mounts(t) : undefined;
  const input = path.join(dir, 'layout');
  mustRun('cp', ['-a', src, input]);
  if (caseName === 'ro-mount+ingest') mkdirSync(path.join(input, 'ingest'));
  if (caseName === 'nobody-0555') chmodTree(input);

  let layout = input;
  const before = snapshotTree(input);
  if (mounts !== undefined) {
    layout = mounts.readOnly(
      input,
      path.join(dir, caseName === 'ro-mount-colon-path' ? 'ro:colon' : 'ro'),
    );
    t.same(snapshotTree(layout), before, 'the read-only mount shows the layout');
    t.throws(
      () => writeFileSync(path.join(layout, 'index.json.lock'), ''),
      { code: 'EROFS' },
      'root cannot write through the mount',
    );
  }
  const client =
    caseName === 'nobody-0555'
      ? nobodyClient(d, path.join(dir, 'home'))
      : rootClient(d, path.join(dir, 'home'));
  if (client.who === 'nobody') {
    const probe = run(
      [
        process.execPath,
        '-e',
        `require('fs').writeFileSync(${JSON.stringify(path.join(layout, 'index.json.lock'))}, '')`,
      ],
      { env: client.env, prefix: client.prefix },
    );
    t.not(probe.code, 0, `uid ${NOBODY} cannot create index.json.lock in the 0555 tree`);
  }
  const root = taggedRoot(layout, p.tag);
  if (!t.ok(root, `index.json names tag ${p.tag}`)) return;
  const digest = (root as Desc).digest;

  // 1. ocikit: buildx-args (--json for what it decided, plain for the argv), then that argv.
  const h = client.home;
  const out = path.join(h, 'ocikit-out');
  const meta = path.join(h, 'ocikit-meta.json');
  const flags = [
    '--platform',
    p.platforms.join(','),
    '--provenance=false',
    '--progress=plain',
    '--build-context',
    `base=${layout}:${p.tag}`,
    '-o',
    `type=oci,dest=${out},tar=false`,
    '--metadata-file',
    meta,
  ];
  const j = ocikit(client, [
    'buildx-args',
    '--json',
    ...flags,
    '--out',
    path.join(h, 'thin-json'),
    '--buildx-version',
    'auto',
    ctx,
  ]);
  if (
    !t.equal(j.code, 0, `ocikit buildx-args --json as ${client.who}: exit 0`, {
      stderr: tail(j.stderr),
    })
  )
    return;
  const plan = JSON.parse(j.stdout) as {
    argv: string[];
    buildx: string;
    contexts: {
      strategy: Strategy;
      reasons: string[];
      value: string;
      path: string;
      descriptor: Desc;
    }[];
    warnings: unknown[];
  };
  t.equal(
    plan.buildx,
    exp.buildx,
    `--buildx-version auto detected buildx ${exp.buildx} through the suite's docker`,
  );
  const c0 = plan.contexts[0];
  if (!t.ok(c0, 'one prepared context')) return;
  const strategy = (c0 as (typeof plan.contexts)[number]).strategy;
  const hasIngest = existsSync(path.join(input, 'ingest'));
  const wantStrategy = exp.strategy[caseName][hasIngest ? 'ingest' : 'noIngest'];
  t.equal(
    strategy,
    wantStrategy,
    `${hasIngest ? 'with' : 'without'} ingest/: strategy ${wantStrategy} (${(c0 as { reasons: string[] }).reasons.join('; ')})`,
  );
  t.equal(c0?.descriptor.digest, digest, 'pinned to the digest the tag names in index.json');

  const thinOut = path.join(h, 'thin');
  const a = ocikit(client, [
    'buildx-args',
    ...flags,
    '--out',
    thinOut,
    '--buildx-version',
    'auto',
    ctx,
  ]);
  if (
    !t.equal(a.code, 0, `ocikit buildx-args as ${client.who}: exit 0`, { stderr: tail(a.stderr) })
  )
    return;
  const argv = JSON.parse(a.stdout) as unknown;
  if (
    !t.ok(
      Array.isArray(argv) && argv.every((x) => typeof x === 'string'),
      'stdout is a JSON array of strings',
    )
  )
    return;
  const args = argv as string[];
  t.same(
    args,
    plan.argv.map((x) => x.split(path.join(h, 'thin-json')).join(thinOut)),
    'the argv equals the --json argv (but for --out)',
  );
  const base = strategy === 'in-place' ? layout : path.join(thinOut, 'base');
  t.ok(
    args.includes(`base=oci-layout://${base}:${p.tag}@${digest}`),
    `--build-context base=oci-layout://${strategy === 'in-place' ? 'LAYOUT' : 'OUT/base'}:${p.tag}@<digest>`,
    { argv: args },
  );
  if (strategy === 'thin') {
    t.same(
      readdirSync(path.join(thinOut, 'base')).sort(),
      ['blobs', 'index.json', 'index.json.lock', 'ingest', 'oci-layout'],
      'thin copy: oci-layout, index.json, empty lock, ingest/, blobs',
    );
    t.equal(
      readlinkSync(path.join(thinOut, 'base', 'blobs')),
      realpathSync(path.join(layout, 'blobs')),
      'thin copy: blobs is a symlink to the input blobs',
    );
  } else {
    t.notOk(existsSync(thinOut), 'in place: no thin copy written');
  }
  const built = run(args, { env: client.env, prefix: client.prefix, cwd: h });
  const ok = t.equal(
    built.code,
    0,
    `the argv ocikit printed builds as ${client.who} (${secs(built.ms)})`,
    { stderr: tail(built.stderr, 25) },
  );
  if (ok) checkOutput(t, out, meta, p, client);
  const untouched = t.same(
    snapshotTree(input),
    before,
    'after the ocikit build: input byte-identical (paths, modes, mtimes, sizes, sha256)',
  );

  // 2. plain buildx, tag-only ref: the behaviour observed for this suite.
  const plainOut = path.join(h, 'plain-out');
  const plain = docker(client, [
    'buildx',
    'build',
    '--progress=plain',
    '--provenance=false',
    '--platform',
    p.platforms.join(','),
    '--build-context',
    `base=oci-layout://${layout}:${p.tag}`,
    '-o',
    `type=oci,dest=${plainOut},tar=false`,
    '--metadata-file',
    path.join(h, 'plain-meta.json'),
    ctx,
  ]);
  const want = exp.plainTagRef[caseName];
  const after = snapshotTree(input);
  const changed = changedPaths(before, after);
  if (want.builds) {
    if (
      t.equal(
        plain.code,
        0,
        `plain buildx, tag-only ref, as ${client.who}: builds on buildx ${exp.buildx}`,
        { stderr: tail(plain.stderr, 25) },
      )
    ) {
      checkOutput(t, plainOut, path.join(h, 'plain-meta.json'), p, client);
    }
    if (want.touchesInput) {
      t.same(
        changed,
        ['.'],
        'plain buildx wrote into the input: its directory mtime moved (lock file created and removed), nothing else left',
      );
    } else {
      t.same(after, before, 'plain buildx: input byte-identical');
    }
  } else {
    t.not(
      plain.code,
      0,
      `plain buildx, tag-only ref, as ${client.who}: fails on buildx ${exp.buildx}`,
    );
    t.match(plain.stderr, want.error, `the error names the index.json.lock it could not create`);
    t.same(after, before, 'plain buildx failed without changing the input');
  }

  // forky's buildx prints "ERROR: (*service).Write failed: ... locked" on multi-platform
  // exports that write one layer twice, and still exits 0 with a complete result.
  const spurious =
    built.code === 0 && /^ERROR:/m.test(built.stderr)
      ? ` [exit 0, yet stderr has "${errorLine(built.stderr).slice(0, 40)}..."]`
      : '';
  const plainObserved =
    plain.code === 0
      ? `builds${changed.length > 0 ? ` (input changed: ${changed.join(' ')})` : ''}`
      : `FAILS "${errorLine(plain.stderr).replace(/\/\S*\//g, '.../')}"`;
  t.comment(
    `OBSERVED suite=${d.suite} producer=${producer.id} case=${caseName}${hasIngest && caseName !== 'ro-mount+ingest' ? ' (has ingest/)' : ''}: plain-tag-ref=${plainObserved} (${secs(plain.ms)}) | ocikit=${strategy} build=${built.code === 0 ? 'ok' : `FAILED exit ${built.code}`}${spurious} (${secs(built.ms)}) | input ${untouched ? 'byte-identical after ocikit' : 'CHANGED by the ocikit build'}`,
  );
  if (mounts !== undefined) {
    mounts.release();
    t.same(mountsUnder(dir), [], 'mount released');
  }
}

// ---------------------------------------------------------------------------------------------

t.before(() => {
  if (!existsSync(BUNDLE)) throw new Error(`${BUNDLE} is missing: run npm run build first`);
});

t.test(`buildx daemon of the suite (${process.env['OCIKIT_E2E_SUITE'] ?? 'unset'})`, async (t) => {
  const d = prerequisite(t);
  if (d === undefined) return;
  const c = rootClient(d, path.join(WORK, 'version'));
  const v = docker(c, ['buildx', 'version']);
  t.equal(v.code, 0, 'docker buildx version', { stderr: v.stderr });
  t.match(
    v.stdout,
    new RegExp(`\\b${EXPECT[d.suite].buildx.replace(/\./g, '\\.')}\\b`),
    `the ${d.suite} suite has buildx ${EXPECT[d.suite].buildx}`,
  );
  t.comment(`OBSERVED suite=${d.suite}: ${v.stdout.trim()}`);
});

for (const producer of PRODUCERS) {
  t.test(`${producer.id}: ${producer.title}`, async (t) => {
    const d = prerequisite(t);
    if (d === undefined) return;
    for (const tool of producer.tools) if (!requireTool(t, tool)) return;
    const work = path.join(WORK, producer.id);
    mkdirSync(work);
    const scratch = path.join(work, 'scratch');
    mkdirSync(scratch);
    const src = path.join(work, 'layout');
    const p = producer.make(t, d, src, scratch);
    if (p === undefined) return;

    // The consumer: FROM base + COPY, no RUN (works for every platform without emulation).
    const ctx = path.join(work, 'ctx');
    mkdirSync(ctx);
    writeFileSync(path.join(ctx, 'Dockerfile'), 'FROM base\nCOPY added.txt /added.txt\n');
    writeFileSync(path.join(ctx, 'added.txt'), ADDED);

    // What the producer made, read without ocikit, then as ocikit sees it.
    const root = taggedRoot(src, p.tag);
    if (!t.ok(root, `index.json names tag ${p.tag}`)) return;
    const images = imagesOf(src, root as Desc);
    const platforms = images.filter((i) => !i.attestation);
    t.same(
      platforms.map((i) => normPlatform(i.platform)).sort(),
      [...p.platforms].sort(),
      `input platforms: ${p.platforms.join(', ')}`,
    );
    for (const img of platforms)
      t.same(
        img.files,
        p.base[normPlatform(img.platform)],
        `input ${img.platform}: ${img.layers} layer(s) with the expected files`,
      );
    t.equal(
      images.some((i) => i.attestation),
      p.attestations,
      p.attestations ? 'the input index holds attestation manifests' : 'no attestation manifests',
    );
    const rc = rootClient(d, path.join(work, 'root-home'));
    const v = ocikit(rc, ['verify', src]);
    t.equal(v.code, 0, 'ocikit verify: the input layout is complete', {
      stdout: v.stdout,
      stderr: v.stderr,
    });
    if (p.attestations) {
      for (const img of platforms) {
        const r = ocikit(rc, [
          'resolve',
          src,
          '--tag',
          p.tag,
          '--platform',
          normPlatform(img.platform),
          '--json',
        ]);
        t.equal(
          r.code === 0
            ? (JSON.parse(r.stdout) as { descriptor: Desc }).descriptor.digest
            : r.stderr,
          img.digest,
          `ocikit resolve --platform ${normPlatform(img.platform)}: the image manifest, not its attestation`,
        );
      }
      const u = ocikit(rc, [
        'resolve',
        src,
        '--tag',
        p.tag,
        '--platform',
        'unknown/unknown',
        // unknown/unknown is not a known platform: allowed here, to show that even then the
        // attestations that carry it are not selected.
        '--allow-unknown-platforms',
        '--json',
      ]);
      t.equal(u.code, 1, 'attestation manifests (unknown/unknown) are never selected');
      t.match(u.stdout, /OCIKIT_PLATFORM_NOT_FOUND/, 'OCIKIT_PLATFORM_NOT_FOUND');
    }

    const cases: CaseName[] = producer.allCases
      ? ['ro-mount', 'nobody-0555', 'ro-mount+ingest', 'ro-mount-colon-path', 'writable-root']
      : ['ro-mount', 'nobody-0555'];
    for (const caseName of cases) {
      await t.test(caseName, async (t) => runCase(t, d, producer, p, src, caseName, work, ctx));
    }
  });
}

t.test('no mounts are left behind', async (t) => {
  t.same(mountsUnder(WORK), [], `nothing mounted under ${WORK}`);
});
