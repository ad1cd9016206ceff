/**
 * The buildx compatibility model, tested by the DECISIONS it drives: prepareContexts' strategy
 * (in place or thin copy) and its reasons, per buildx version × user (root in-process, uid
 * 65534 through setpriv) × writability × `ingest/` present; the ':'/'@' path boundary; the tag
 * lookup order. Expectations are written out here, not derived from the table. Versions are
 * real buildx releases (and Debian's rebuilds of them).
 */
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import {
  COMPAT,
  SIDESTEPPED,
  formatBuildxVersion,
  isDistroBuild,
  parseBuildxVersion,
  renderCompatMarkdown,
} from '../src/buildx/compat.js';
import { formatLayoutRef, parseLayoutRef, pathNeedsRemap } from '../src/layout/reference.js';
import { prepareContexts } from '../src/ops/context.js';
import {
  EMBEDDED_BUILDKIT,
  REWRITE_TIMESTAMP,
  SCRATCH_EXPORT_CRASH,
  parseVersion,
} from '../src/buildx/builder.js';
import { ROOT } from './helpers/cli.js';
import { LayoutBuilder, standardLayout, tagged } from './helpers/layout-builder.js';
import { prepareAsNobody, type PrepareCase, type PrepareOutcome } from './helpers/prepare-as.js';
import { NOBODY, requireTool } from './helpers/tools.js';

t.test('buildx version strings', async (t) => {
  t.match(parseBuildxVersion('github.com/docker/buildx 0.29.1+ds1 0.29.1+ds1-4'), {
    major: 0,
    minor: 29,
    patch: 1,
    raw: '0.29.1+ds1',
  });
  t.match(parseBuildxVersion('github.com/docker/buildx v0.19.3 48d6a39'), { minor: 19, patch: 3 });
  t.match(parseBuildxVersion('0.13.1+ds1-3'), { minor: 13, patch: 1 });
  t.match(parseBuildxVersion('1.0.0'), { major: 1, minor: 0 });
  t.throws(() => parseBuildxVersion('buildx dev'), { code: 'OCIKIT_USAGE' });
  t.equal(formatBuildxVersion(undefined), 'unknown');
  for (const [v, distro] of [
    ['github.com/docker/buildx 0.29.1+ds1 0.29.1+ds1-4', true],
    ['0.13.1+ds1-3', true],
    ['github.com/docker/buildx v0.19.3 48d6a39', false],
    ['v0.20.0-rc1', false],
  ] as const) {
    t.equal(isDistroBuild(parseBuildxVersion(v)), distro, `${v}: distribution rebuild ${distro}`);
  }
});

// ---------------------------------------------------------------------------------------------
// In place or thin: version × uid × writability × ingest/.

type Reason = 'ingest' | 'fsverity' | 'separator';
/** A decision: in place, or thin with exactly these reasons. */
type Decision = 'in-place' | Reason[];

const REASON: Record<Reason, RegExp> = {
  ingest: /may create ingest\/ in the layout, and it has none/,
  fsverity: /writable by this user and buildx \S+ probes fs-verity/,
  separator: /contains ':' or '@', which buildx \S+ misparses/,
};

const P: Decision = 'in-place';

type Test = Parameters<Parameters<typeof t.test>[0]>[0];

/**
 * Expected decisions, per version, for a layout that is
 * [not writable, no ingest/], [not writable, ingest/], [writable, no ingest/], [writable, ingest/]
 * by the user who runs buildx.
 */
const DECISIONS: [string, string | undefined, Decision, Decision, Decision, Decision][] = [
  // containerd 1.7.13 vendored: ingest/ created when the store is opened; no fs-verity probe.
  ['0.13.1', '0.13.1', ['ingest'], P, ['ingest'], P],
  // Debian trixie's rebuild: whatever containerd 1.x the distribution links.
  ['0.13.1+ds1-3 (Debian trixie)', '0.13.1+ds1-3', ['ingest'], P, ['ingest'], P],
  ['0.18.0', '0.18.0', ['ingest'], P, ['ingest'], P],
  // containerd 1.7.24 vendored: ingest/ only on write.
  ['0.19.0', '0.19.0', P, P, P, P],
  ['0.19.3', '0.19.3', P, P, P, P],
  // A distribution rebuild of 0.19 may link a containerd before 1.7.24: assume the write.
  ['0.19.3+ds1 (a distribution rebuild)', '0.19.3+ds1', ['ingest'], P, ['ingest'], P],
  // containerd 2 (every build, its import path): the fs-verity probe in a writable layout.
  ['0.20.0', '0.20.0', P, P, ['fsverity'], ['fsverity']],
  ['0.29.1+ds1 (Debian forky)', '0.29.1+ds1', P, P, ['fsverity'], ['fsverity']],
  ['0.30.1', '0.30.1', P, P, ['fsverity'], ['fsverity']],
  ['0.31.0', '0.31.0', P, P, ['fsverity'], ['fsverity']],
  ['0.33.0', '0.33.0', P, P, ['fsverity'], ['fsverity']],
  ['0.36.1', '0.36.1', P, P, ['fsverity'], ['fsverity']],
  ['unknown', undefined, ['ingest'], P, ['ingest', 'fsverity'], ['fsverity']],
];

const USERS = [
  { name: 'root', uid: 0 },
  { name: `uid ${NOBODY}`, uid: NOBODY },
] as const;
const MODES = [0o777, 0o555] as const;

/** A directory every user can traverse (the testdir's parents may not be). */
function sharedBase(t: Test): string {
  const base = mkdtempSync(path.join(os.tmpdir(), 'ocikit-compat-'));
  chmodSync(base, 0o755);
  t.teardown(() => {
    for (const mode of MODES)
      for (const ingest of [false, true]) {
        try {
          chmodSync(path.join(base, layoutName(mode, ingest)), 0o755);
        } catch {
          // not made
        }
      }
    rmSync(base, { recursive: true, force: true });
  });
  return base;
}

function layoutName(mode: number, ingest: boolean): string {
  return `layout-${mode.toString(8)}${ingest ? '-ingest' : ''}`;
}

function check(
  t: Test,
  outcome: PrepareOutcome | undefined,
  expected: Decision,
  label: string,
): void {
  if (outcome === undefined || 'error' in outcome) {
    t.fail(`${label}: ${outcome === undefined ? 'no result' : JSON.stringify(outcome.error)}`);
    return;
  }
  const [c] = outcome.ok.contexts;
  if (expected === 'in-place') {
    t.equal(c?.strategy, 'in-place', `${label}: in place`);
    t.match(c?.reasons, [/the digest is pinned/], `${label}: why in place`);
    return;
  }
  t.equal(c?.strategy, 'thin', `${label}: thin`);
  t.equal(c?.reasons.length, expected.length, `${label}: ${expected.join(', ')}`);
  for (const r of expected)
    t.ok(
      c?.reasons.some((text) => REASON[r].test(text)),
      `${label}: reason ${r} (${c?.reasons.join('; ')})`,
    );
}

t.test('in place or thin: version × user × writability × ingest/', async (t) => {
  const base = sharedBase(t);
  for (const mode of MODES) {
    for (const ingest of [false, true]) {
      const dir = path.join(base, layoutName(mode, ingest));
      standardLayout(dir);
      if (ingest) mkdirSync(path.join(dir, 'ingest'));
      chmodSync(dir, mode);
    }
  }
  const outs = path.join(base, 'out');
  mkdirSync(outs);
  chmodSync(outs, 0o777);
  let n = 0;
  const cases: { label: string; uid: number; expected: Decision; c: PrepareCase }[] = [];
  for (const [name, version, ...expected] of DECISIONS) {
    for (const user of USERS) {
      for (const mode of MODES) {
        for (const ingest of [false, true]) {
          const writable = user.uid === 0 || mode === 0o777;
          const c: PrepareCase = {
            requests: [
              {
                name: 'base',
                ref: { path: path.join(base, layoutName(mode, ingest)), tag: 'multi' },
              },
            ],
            options: { out: path.join(outs, String(n++)) },
          };
          if (version !== undefined) c.options.buildx = version;
          cases.push({
            label: `buildx ${name}, ${user.name}, 0${mode.toString(8)}${ingest ? ', ingest/' : ''}`,
            uid: user.uid,
            expected: expected[(writable ? 2 : 0) + (ingest ? 1 : 0)] as Decision,
            c,
          });
        }
      }
    }
  }
  t.equal(process.getuid?.(), 0, 'the root rows run in-process as root');
  for (const x of cases.filter((x) => x.uid === 0)) {
    const options: Parameters<typeof prepareContexts>[1] = { out: x.c.options.out as string };
    if (x.c.options.buildx !== undefined) options.buildx = parseBuildxVersion(x.c.options.buildx);
    let outcome: PrepareOutcome;
    try {
      outcome = { ok: await prepareContexts(x.c.requests, options) };
    } catch (e) {
      outcome = { error: { code: String((e as { code?: string }).code), message: String(e) } };
    }
    check(t, outcome, x.expected, x.label);
  }
  await t.test(`as uid ${NOBODY}`, async (t) => {
    if (!requireTool(t, 'setpriv')) return;
    const nobody = cases.filter((x) => x.uid === NOBODY);
    const outcomes = await prepareAsNobody(nobody.map((x) => x.c));
    nobody.forEach((x, i) => check(t, outcomes[i], x.expected, x.label));
  });
});

t.test("the ':'/'@' path boundary: buildx 0.31.0 reads such paths, 0.30.1 does not", async (t) => {
  const base = sharedBase(t);
  const dir = path.join(base, 'a:b@c');
  standardLayout(dir);
  mkdirSync(path.join(dir, 'ingest'));
  chmodSync(dir, 0o555);
  const outs = path.join(base, 'out');
  mkdirSync(outs);
  chmodSync(outs, 0o777);
  // Root can write anywhere, so 0.31+ probes fs-verity; 0.19.0 does not: the separator alone.
  const rootCases: [string, Decision][] = [
    ['0.19.0', ['separator']],
    ['0.30.1', ['separator', 'fsverity']],
    ['0.31.0', ['fsverity']],
  ];
  for (const [v, expected] of rootCases) {
    const r = await prepareContexts([{ name: 'base', ref: { path: dir, tag: 'single' } }], {
      buildx: parseBuildxVersion(v),
      out: path.join(outs, `root-${v}`),
    });
    check(t, { ok: r }, expected, `root, buildx ${v}`);
    t.notMatch(r.contexts[0]?.value.slice('oci-layout://'.length), /a:b@c/, `${v}: remapped`);
  }
  await t.test(`as uid ${NOBODY} (not writable)`, async (t) => {
    if (!requireTool(t, 'setpriv')) return;
    const cases: [string | undefined, Decision][] = [
      ['0.30.1', ['separator']],
      ['0.31.0', P],
      ['0.36.1', P],
      [undefined, ['separator']],
    ];
    const outcomes = await prepareAsNobody(
      cases.map(([v], i) => ({
        requests: [{ name: 'base', ref: { path: dir, tag: 'single' } }],
        options: { out: path.join(outs, `nobody-${i}`), ...(v === undefined ? {} : { buildx: v }) },
      })),
    );
    cases.forEach(([v, expected], i) =>
      check(t, outcomes[i], expected, `buildx ${v ?? 'unknown'}`),
    );
    const inPlace = outcomes[1];
    t.equal(
      inPlace !== undefined && 'ok' in inPlace ? inPlace.ok.contexts[0]?.path : undefined,
      dir,
      "0.31.0 reads the ':'/'@' path itself",
    );
  });
});

t.test('tag lookup order by buildx version', async (t) => {
  const root = t.testdir();
  const dir = path.join(root, 'layout');
  const b = new LayoutBuilder(dir);
  const amd = { os: 'linux', architecture: 'amd64' };
  const a = b.image({ platform: amd, layers: [{ a: 'a' }] });
  const c = b.image({ platform: amd, layers: [{ c: 'c' }] });
  b.writeIndex([tagged(a, 'v1'), tagged(c, 'v1', 'io.containerd.image.name')]);
  const cases: [string | undefined, string, string][] = [
    ['0.13.1', a.digest, 'org.opencontainers.image.ref.name'],
    ['0.19.3', a.digest, 'org.opencontainers.image.ref.name'],
    ['0.19.3+ds1', a.digest, 'org.opencontainers.image.ref.name'],
    ['0.20.0', c.digest, 'io.containerd.image.name'],
    ['0.29.1+ds1', c.digest, 'io.containerd.image.name'],
    [undefined, c.digest, 'io.containerd.image.name'],
  ];
  for (const [v, digest, matchedBy] of cases) {
    const r = await prepareContexts([{ name: 'base', ref: { path: dir, tag: 'v1' } }], {
      mode: 'thin',
      out: path.join(root, `out-${v ?? 'unknown'}`),
      ...(v === undefined ? {} : { buildx: parseBuildxVersion(v) }),
    });
    t.match(r.contexts[0], { descriptor: { digest }, matchedBy }, `buildx ${v ?? 'unknown'}`);
    t.ok(r.contexts[0]?.value.endsWith(`:v1@${digest}`), `${v}: pinned to ${digest}`);
    const order = r.warnings.filter((w) => w.code === 'OCIKIT_W_TAG_ORDER');
    t.equal(order.length, 1, `${v}: the other order is named`);
    t.match(order[0]?.message, new RegExp(`${a.digest}.*${c.digest}|${c.digest}.*${a.digest}`));
  }
});

// ---------------------------------------------------------------------------------------------
// The table itself: evidence on every row, README in sync.

t.test('every row names its source and a real release; README shows the table', async (t) => {
  const COMMIT = /^(docker\/buildx|moby\/buildkit|containerd\/containerd)@[0-9a-f]{9}\b/;
  // buildx releases that exist (git tag in docker/buildx); 0.33 only ever had 0.33.0.
  const RELEASES = ['0.11.0', '0.19.0', '0.20.0', '0.31.0'];
  for (const [flag, row] of Object.entries(COMPAT)) {
    t.match(row.commit, COMMIT, `${flag}: commit`);
    if (row.vendored !== undefined) t.match(row.vendored, /^docker\/buildx@[0-9a-f]{9}$/);
    t.ok(RELEASES.includes(row.since), `${flag}: since ${row.since} is a buildx release`);
    t.not(row.before, row.after, `${flag}: changes at ${row.since}`);
    if (row.linkedBefore !== undefined) t.ok(RELEASES.includes(row.linkedBefore));
  }
  for (const f of SIDESTEPPED) t.match(f.commits, /@[0-9a-f]{9}/, f.fact);
  t.match(COMPAT.cutsAtFirstSeparator, {
    since: '0.31.0',
    commit: /^docker\/buildx@2e76c0559/,
  });
  t.match(COMPAT.tagOrder, {
    since: '0.20.0',
    commit: /^moby\/buildkit@01cf0c69f/,
    vendored: 'docker/buildx@44fa243d5',
  });
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const m = /<!-- compat:begin[^>]*-->\n([\s\S]*?)<!-- compat:end -->/.exec(readme);
  t.ok(m, 'README has the compat markers');
  t.equal(
    m?.[1],
    renderCompatMarkdown(),
    'README compat section is current (paste renderCompatMarkdown() between the markers)',
  );
});

t.test('oci-layout references', async (t) => {
  const d = `sha256:${'a'.repeat(64)}`;
  t.same(parseLayoutRef(`/x/layout:v1@${d}`), { path: '/x/layout', tag: 'v1', digest: d });
  t.same(parseLayoutRef('/x/layout:v1'), { path: '/x/layout', tag: 'v1' });
  t.same(parseLayoutRef(`/x/layout@${d}`), { path: '/x/layout', digest: d });
  t.same(parseLayoutRef('./layout'), { path: './layout' });
  t.same(
    parseLayoutRef('/a:b/layout'),
    { path: '/a:b/layout' },
    'a colon followed by a path is part of the path',
  );
  t.same(
    parseLayoutRef('/a:b/layout:t'),
    { path: '/a:b/layout', tag: 't' },
    'the last colon is the tag',
  );
  t.throws(() => parseLayoutRef(`@${d}`), { code: 'OCIKIT_USAGE' });
  t.throws(() => parseLayoutRef('/x@sha256:zz'), { code: 'OCIKIT_DIGEST_INVALID' });
  t.ok(pathNeedsRemap('/a:b') && pathNeedsRemap('/a@b') && !pathNeedsRemap('/a/b'));
  t.equal(formatLayoutRef('/l', 'latest', d), `oci-layout:///l:latest@${d}`);
  t.throws(() => formatLayoutRef('rel', 'latest', d));
});

t.test(
  'builder facts carry their evidence and agree with the embedded-BuildKit table',
  async (t) => {
    for (const c of [SCRATCH_EXPORT_CRASH, REWRITE_TIMESTAMP]) {
      t.match(c.commit, /^moby\/buildkit@[0-9a-f]{9}$/, c.summary);
      // The first dockerd with the change embeds a BuildKit that has it; the row before does not.
      const row = EMBEDDED_BUILDKIT.find((r) => r.dockerd.join('.') === c.dockerd.join('.'));
      t.ok(row, `dockerd ${c.dockerd.join('.')} is a row of EMBEDDED_BUILDKIT`);
      const at = parseVersion(row?.buildkit ?? '') as { major: number; minor: number };
      t.ok(
        at.major > c.buildkit[0] || (at.major === c.buildkit[0] && at.minor >= c.buildkit[1]),
        `dockerd ${c.dockerd.join('.')} embeds BuildKit ${row?.buildkit}, which has it`,
      );
    }
    t.same(REWRITE_TIMESTAMP.buildkit, [0, 13, 0], 'moby/buildkit 2f8292cf7 is first in v0.13.0');
    t.same(REWRITE_TIMESTAMP.dockerd, [26, 0, 0], 'moby v26.0.0 vendors BuildKit v0.13.1');
  },
);
