/**
 * Every read command against layouts and archives as real producers write them (forky's umoci,
 * skopeo, buildx 0.29.1, docker save, crane, oras; test/e2e/helpers/producers.sh), checked
 * against each producer's own view of the result (`skopeo inspect --raw`, `oras manifest fetch
 * --descriptor [--platform]`, `crane digest [--platform]`, `docker image inspect`), written by
 * the script to oracle.tsv. test/interop.ts covers umoci/skopeo on the host;
 * test/e2e/interop-registry.ts covers the layouts ocikit writes going through the registry.
 *
 * For each shape (layout directory or archive) and each name the producer gave it:
 *   - resolve (--tag as written: ref.name, full names, io.containerd.image.name; --platform;
 *     --digest; --strict) names the producer's digest, with no warning unless the shape
 *     deviates from the spec (then the warning is named, and --strict refuses it);
 *   - inspect --json lists it, byte-identical across runs; verify and verify --strict pass;
 *   - context (thin; in place on a read-only copy as nobody; FILE.tar input) and buildx-args pin
 *     the same digest;
 *   - pack, unpack, pack again: byte-identical archives, and the unpacked layout resolves the same;
 *   - index merges two producers' images, keeping the annotations given.
 * Artifacts (oras: artifactType, the empty config descriptor with `data`, a custom config media
 * type, referrers with `subject`) resolve and inspect; they have no platform.
 */
import {
  chmodSync,
  copyFileSync,
  cpSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { AS_NOBODY, isCI, NOBODY } from '../helpers/tools.js';
import { run, tail, type Ran } from './helpers/exec.js';
import { readJson } from './helpers/oci.js';
import { BUNDLE, ROOT } from './helpers/paths.js';
import { freePort, inRootfs, missingTools, rootfsDir } from './helpers/rootfs.js';
import { withSuite, type SuiteDaemon } from './helpers/suite.js';

type Test = Parameters<Parameters<typeof t.test>[0]>[0];

const TOOLS = ['umoci', 'skopeo', 'crane', 'oras', 'docker-registry'] as const;
const PRODUCERS = path.join(ROOT, 'test', 'e2e', 'helpers', 'producers.sh');

/** A producer's output and what ocikit should make of it. */
interface Shape {
  name: string;
  /** More names the producer wrote for the oracle's first tag (io.containerd.image.name, ...). */
  alsoNamed?: string[];
  /** The spec deviation ocikit warns about (and --strict refuses). */
  deviation?: string;
  /** resolve never reads what deviates (an index root: its configs are not read). */
  resolveClean?: boolean;
  /** An artifact (no image config): resolves and inspects, has no platform, is no build base. */
  artifact?: boolean;
}

const SHAPES: Shape[] = [
  { name: 'umoci' },
  { name: 'skopeo' },
  { name: 'skopeo.tar' },
  { name: 'skopeo-zstd' },
  { name: 'skopeo-zstd.tar' },
  { name: 'buildx', alsoNamed: ['example.com/team/app:v1'] },
  { name: 'buildx.tar', alsoNamed: ['example.com/team/app:v1'] },
  { name: 'buildx-zstd', alsoNamed: ['docker.io/library/app:zstd'] },
  { name: 'buildx-multi', alsoNamed: ['docker.io/library/multi:v1'] },
  { name: 'buildx-variants', alsoNamed: ['docker.io/library/variants:v1'] },
  { name: 'buildx-multi.tar', alsoNamed: ['docker.io/library/multi:v1'] },
  { name: 'save.tar', alsoNamed: ['docker.io/tp/save:v1'] },
  { name: 'save2.tar', alsoNamed: ['docker.io/tp/save:v2'] },
  { name: 'save-multi.tar', alsoNamed: ['docker.io/tp/multi:v1'] },
  { name: 'skopeo-all' },
  { name: 'crane', deviation: 'OCIKIT_W_NO_PLATFORM' },
  { name: 'crane-two', deviation: 'OCIKIT_W_NO_PLATFORM' },
  { name: 'crane-index', deviation: 'OCIKIT_W_NO_PLATFORM', resolveClean: true },
  { name: 'crane-multi' },
  { name: 'oras', artifact: true },
  { name: 'oras-copy', artifact: true },
  { name: 'oras-multi' },
];

/** One line of oracle.tsv: what the producer says `selector` names. */
interface Oracle {
  /** `-` (no tag), a tag, or TAG@PLATFORM. */
  selector: string;
  tag?: string;
  platform?: string;
  digest: string;
  tool: string;
}

withSuite(t, (d) => {
  const missing = missingTools('forky', TOOLS);
  let why = '';
  if (d.suite !== 'forky')
    why = `the producers run with forky's daemon and tools; this is the ${d.suite} suite (test/e2e/run.sh runs interop-*.ts in forky only)`;
  else if (missing.length > 0)
    why = `missing prerequisite: ${missing.join(', ')} not in ${rootfsDir('forky')}/usr/bin (scripts/e2e/rootfs.sh installs them)`;
  if (why === '') return main(d);
  if (isCI()) t.fail(`${why}. CI=true: a missing prerequisite is a failure.`);
  else t.plan(0, why);
});

function main(d: SuiteDaemon): void {
  const work = mkdtempSync(path.join(process.env['OCIKIT_E2E_TMP'] ?? os.tmpdir(), 'producers-'));
  chmodSync(work, 0o755);
  t.teardown(() => rmSync(work, { recursive: true, force: true }));
  const out = path.join(work, 'out');
  const scratch = path.join(work, 'scratch');
  mkdirSync(out);
  mkdirSync(scratch);
  chmodSync(scratch, 0o777);
  let n = 0;
  /** A new path under the scratch directory. */
  const fresh = (label: string): string => path.join(scratch, `${label}-${++n}`);
  const oracles = new Map<string, Oracle[]>();
  /** What ocikit wrote, for oras to read back: TAG[@PLATFORM] must name the producer's digest. */
  const rereads: { file: string; o: Oracle }[] = [];
  const reread = (file: string, list: Oracle[]): void => {
    // oras reads Docker-style tags in DIR:TAG (not full names); its --platform takes the first
    // entry of the architecture, not BuildKit's choice among variants (buildx's own oracle).
    for (const o of list)
      if (
        o.tag !== undefined &&
        /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(o.tag) &&
        (o.platform === undefined || o.tool !== 'buildx')
      )
        rereads.push({ file, o });
  };

  const ocikit = (args: string[], prefix: string[] = []): Ran =>
    run([process.execPath, BUNDLE, ...args], {
      env: { PATH: d.env['PATH'], TMPDIR: scratch },
      cwd: out,
      prefix,
      timeoutMs: 120_000,
    });
  const json = <T>(r: Ran): T => JSON.parse(r.stdout) as T;

  t.before(async () => {
    copyFileSync(PRODUCERS, path.join(work, 'producers.sh'));
    const port = await freePort();
    const r = inRootfs('forky', ['bash', path.join(work, 'producers.sh'), out, String(port)], {
      binds: [work],
      timeoutMs: 600_000,
    });
    if (r.code !== 0) throw new Error(`producers.sh failed (${r.code}):\n${tail(r.stderr, 30)}`);
    for (const line of readFileSync(path.join(out, 'oracle.tsv'), 'utf8').trim().split('\n')) {
      const [shape, selector, digest, tool] = line.split('\t') as [string, string, string, string];
      const at = selector.lastIndexOf('@');
      const tag = at >= 0 ? selector.slice(0, at) : selector;
      const o: Oracle = { selector, digest, tool };
      if (tag !== '-') o.tag = tag;
      if (at >= 0) o.platform = selector.slice(at + 1);
      if (!/^(sha256:[0-9a-f]{64}|none)$/.test(digest)) throw new Error(`oracle.tsv: ${line}`);
      oracles.set(shape, [...(oracles.get(shape) ?? []), o]);
    }
  });

  for (const shape of SHAPES) {
    t.test(shape.name, async (t) => {
      const all = oracles.get(shape.name) ?? [];
      const list = all.filter((o) => o.digest !== 'none');
      t.ok(list.length > 0, `${shape.name}: the producers named at least one digest`);
      // Where buildx itself finds no manifest for a platform, resolve finds none either.
      for (const o of all.filter((o) => o.digest === 'none')) {
        const r = ocikit(['--json', 'resolve', path.join(out, shape.name), ...selectArgs(o)]);
        t.equal(r.code, 1, `resolve ${o.selector}: buildx finds no match, nor does ocikit`);
        t.equal(json<{ error: { code: string } }>(r).error.code, 'OCIKIT_PLATFORM_NOT_FOUND');
      }
      if (shape.name.endsWith('.tar')) await archiveShape(t, shape, list);
      else await layoutShape(t, shape, list);
    });
  }

  /** --tag/--platform arguments of an oracle line. */
  const selectArgs = (o: Oracle): string[] => [
    ...(o.tag !== undefined ? ['--tag', o.tag] : []),
    ...(o.platform !== undefined ? ['--platform', o.platform] : []),
  ];
  /** `NAME=PATH[:TAG]` and --platform of an oracle line, for context and buildx-args. */
  const contextArgs = (dir: string, o: Oracle): string[] => [
    `b=${dir}${o.tag !== undefined ? `:${o.tag}` : ''}`,
    ...(o.platform !== undefined ? ['--platform', o.platform] : []),
  ];
  const warningCodes = (r: Ran): string[] =>
    [...r.stderr.matchAll(/warning (OCIKIT_W_[A-Z_]+)/g)].map((m) => m[1] as string);

  /** resolve names the producer's digest for every selector, plain and --strict. */
  function checkResolve(t: Test, shape: Shape, dir: string, list: Oracle[]): void {
    const deviation = shape.resolveClean === true ? undefined : shape.deviation;
    for (const o of list) {
      const r = ocikit(['--json', 'resolve', dir, ...selectArgs(o)]);
      t.equal(r.code, 0, `resolve ${o.selector}: exit 0\n${tail(r.stderr)}`);
      if (r.code !== 0) continue;
      const res = json<{
        descriptor: { digest: string; platform?: unknown };
        warnings?: { code: string }[];
      }>(r);
      t.equal(res.descriptor.digest, o.digest, `resolve ${o.selector} = ${o.tool}'s digest`);
      const codes = (res.warnings ?? []).map((w) => w.code);
      t.same(codes, deviation !== undefined ? [deviation] : [], `resolve ${o.selector}: warnings`);
      if (shape.artifact === true)
        t.equal(
          res.descriptor.platform,
          undefined,
          `resolve ${o.selector}: an artifact has no platform`,
        );
      const s = ocikit(['--json', '--strict', 'resolve', dir, ...selectArgs(o)]);
      if (deviation !== undefined) {
        t.equal(s.code, 1, `resolve --strict ${o.selector} refuses the deviation`);
        const e = json<{ error: { code: string; deviation?: string } }>(s).error;
        t.equal(e.code, 'OCIKIT_SCHEMA_INVALID');
        t.equal(e.deviation, deviation);
      } else {
        t.equal(s.code, 0, `resolve --strict ${o.selector}\n${tail(s.stderr)}`);
        if (s.code === 0)
          t.equal(json<{ descriptor: { digest: string } }>(s).descriptor.digest, o.digest);
      }
      const byDigest = ocikit(['--json', 'resolve', dir, '--digest', o.digest]);
      t.equal(byDigest.code, 0, `resolve --digest ${o.digest}\n${tail(byDigest.stderr)}`);
      if (byDigest.code === 0)
        t.equal(json<{ descriptor: { digest: string } }>(byDigest).descriptor.digest, o.digest);
    }
    const first = list.find((o) => o.tag !== undefined && o.platform === undefined);
    for (const name of shape.alsoNamed ?? []) {
      const r = ocikit(['--strict', 'resolve', dir, '--tag', name]);
      t.equal(r.code, 0, `resolve --strict --tag ${name}\n${tail(r.stderr)}`);
      t.equal(r.stdout.trim(), first?.digest, `--tag ${name} names what ${first?.selector} names`);
    }
  }

  async function layoutShape(t: Test, shape: Shape, list: Oracle[]): Promise<void> {
    const dir = path.join(out, shape.name);
    checkResolve(t, shape, dir, list);

    const inspect = ocikit(['--json', 'inspect', dir]);
    t.equal(inspect.code, 0, `inspect\n${tail(inspect.stderr)}`);
    t.equal(
      ocikit(['--json', 'inspect', dir]).stdout,
      inspect.stdout,
      'inspect --json: same bytes twice',
    );
    if (inspect.code === 0) {
      const doc = json<{
        images: { digest: string; manifests: { digest: string }[] }[];
        warnings: { code: string }[];
      }>(inspect);
      const listed = new Set(
        doc.images.flatMap((i) => [i.digest, ...i.manifests.map((m) => m.digest)]),
      );
      for (const o of list) t.ok(listed.has(o.digest), `inspect lists ${o.selector} (${o.digest})`);
      t.same(
        [...new Set(doc.warnings.map((w) => w.code))],
        shape.deviation !== undefined ? [shape.deviation] : [],
        'inspect: warnings',
      );
    }
    const verify = ocikit(['verify', dir]);
    t.equal(verify.code, 0, `verify\n${tail(verify.stdout + verify.stderr)}`);
    const strict = ocikit(['--json', '--strict', 'verify', dir]);
    if (shape.deviation === undefined)
      t.equal(strict.code, 0, `verify --strict\n${tail(strict.stdout + strict.stderr)}`);
    else t.equal(strict.code, 1, `verify --strict refuses ${shape.deviation}`);

    if (shape.artifact === true) {
      // No build base: refused before a thin copy is written or buildx is run.
      for (const o of list) {
        const r = ocikit([
          '--json',
          'context',
          ...contextArgs(dir, o),
          '--buildx-version',
          '0.29.1',
          '--out',
          fresh('artifact'),
        ]);
        t.equal(r.code, 1, `context ${o.selector}: an artifact is refused`);
        t.equal(json<{ error: { code: string } }>(r).error.code, 'OCIKIT_MEDIA_TYPE_UNSUPPORTED');
      }
    }
    if (shape.artifact !== true && shape.deviation === undefined) {
      for (const o of list) {
        const thin = ocikit([
          '--json',
          'context',
          ...contextArgs(dir, o),
          '--mode',
          'thin',
          '--buildx-version',
          '0.29.1',
          '--out',
          fresh('thin'),
        ]);
        t.equal(thin.code, 0, `context --mode thin ${o.selector}\n${tail(thin.stderr)}`);
        if (thin.code === 0)
          t.equal(
            json<{ contexts: { descriptor: { digest: string } }[] }>(thin).contexts[0]?.descriptor
              .digest,
            o.digest,
            `context ${o.selector}`,
          );
        t.same(warningCodes(thin), [], `context ${o.selector}: no warning`);
      }
      // In place: a read-only copy, read by nobody (root can write anything).
      const ro = fresh('ro');
      cpSync(dir, ro, { recursive: true });
      run(['chmod', '-R', 'a-w,a+rX', ro], { env: { PATH: d.env['PATH'] } });
      const o = list.find((x) => x.platform === undefined) ?? (list[0] as Oracle);
      const outDir = fresh('inplace');
      mkdirSync(outDir);
      chmodSync(outDir, 0o777);
      const inPlace = ocikit(
        [
          '--json',
          'context',
          ...contextArgs(ro, o),
          '--mode',
          'in-place',
          '--buildx-version',
          '0.29.1',
          '--out',
          outDir,
        ],
        AS_NOBODY,
      );
      t.equal(
        inPlace.code,
        0,
        `context --mode in-place ${o.selector} as uid ${NOBODY}\n${tail(inPlace.stderr)}`,
      );
      if (inPlace.code === 0) {
        const c = json<{ contexts: { strategy: string; descriptor: { digest: string } }[] }>(
          inPlace,
        ).contexts[0];
        t.equal(c?.strategy, 'in-place');
        t.equal(c?.descriptor.digest, o.digest);
      }
      buildxArgsPins(t, dir, o);
    }

    // pack, unpack, pack: byte-identical, and the unpacked copy resolves as the original.
    const p1 = fresh('p1.tar');
    const packed = ocikit(['pack', dir, '--out', p1]);
    t.equal(packed.code, 0, `pack\n${tail(packed.stderr)}`);
    if (packed.code !== 0) return;
    reread(p1, list);
    const u1 = fresh('u1');
    const unpacked = ocikit(['unpack', p1, '--out', u1]);
    t.equal(unpacked.code, 0, `unpack\n${tail(unpacked.stderr)}`);
    if (unpacked.code !== 0) return;
    const p2 = fresh('p2.tar');
    t.equal(ocikit(['pack', u1, '--out', p2]).code, 0, 'pack the unpacked layout');
    t.ok(readFileSync(p1).equals(readFileSync(p2)), 'pack → unpack → pack: byte-identical');
    const p3 = fresh('p3.tar');
    t.equal(ocikit(['pack', dir, '--out', p3]).code, 0, 'pack again');
    t.ok(readFileSync(p1).equals(readFileSync(p3)), 'pack twice: byte-identical');
    checkResolve(t, { ...shape, alsoNamed: [] }, u1, list);
  }

  /** buildx-args with the layout (or archive) `at` as a context: the printed ref pins o's digest. */
  function buildxArgsPins(t: Test, at: string, o: Oracle): void {
    const bctx = fresh('bctx');
    mkdirSync(bctx);
    const args = ocikit([
      'buildx-args',
      '--buildx-version',
      '0.29.1',
      '--build-context',
      contextArgs(at, o)[0] as string,
      '--out',
      fresh('args'),
      '-t',
      'x',
      '--format',
      'lines',
      bctx,
    ]);
    t.equal(args.code, 0, `buildx-args\n${tail(args.stderr)}`);
    t.match(args.stdout, `@${o.digest}\n`, 'buildx-args pins the digest');
  }

  async function archiveShape(t: Test, shape: Shape, list: Oracle[]): Promise<void> {
    const file = path.join(out, shape.name);
    for (const o of list) {
      const r = ocikit([
        '--json',
        'context',
        ...contextArgs(file, o),
        '--buildx-version',
        '0.29.1',
        '--out',
        fresh('ctx'),
      ]);
      t.equal(r.code, 0, `context ${shape.name}:${o.selector}\n${tail(r.stderr)}`);
      if (r.code === 0)
        t.equal(
          json<{ contexts: { descriptor: { digest: string } }[] }>(r).contexts[0]?.descriptor
            .digest,
          o.digest,
          `context ${o.selector} = ${o.tool}'s digest`,
        );
      t.same(warningCodes(r), [], `context ${o.selector}: no warning`);
    }
    const o = list.find((x) => x.platform === undefined) ?? (list[0] as Oracle);
    buildxArgsPins(t, file, o);
    for (const cmd of ['resolve', 'inspect', 'verify']) {
      const r = ocikit(['--json', cmd, file]);
      t.equal(r.code, 1, `${cmd} of an archive: exit 1`);
      const e = json<{ error: { code: string; hint: string } }>(r).error;
      t.equal(e.code, 'OCIKIT_LAYOUT_NOT_FOUND');
      t.match(e.hint, /ocikit unpack/, `${cmd} of an archive: the hint says to unpack it`);
    }
    const u1 = fresh('u1');
    const unpacked = ocikit(['unpack', file, '--out', u1]);
    t.equal(unpacked.code, 0, `unpack\n${tail(unpacked.stderr)}`);
    if (unpacked.code !== 0) return;
    checkResolve(t, shape, u1, list);
    const strict = ocikit(['--strict', 'verify', u1]);
    t.equal(
      strict.code,
      0,
      `verify --strict of the unpacked archive\n${tail(strict.stdout + strict.stderr)}`,
    );
    const p1 = fresh('p1.tar');
    t.equal(ocikit(['pack', u1, '--out', p1]).code, 0, 'pack');
    reread(p1, list);
    const u2 = fresh('u2');
    t.equal(ocikit(['unpack', p1, '--out', u2]).code, 0, 'unpack ocikit’s archive');
    const p2 = fresh('p2.tar');
    t.equal(ocikit(['pack', u2, '--out', p2]).code, 0, 'pack again');
    t.ok(
      readFileSync(p1).equals(readFileSync(p2)),
      'unpack → pack → unpack → pack: byte-identical',
    );
  }

  t.test('oras: a non-distributable layer left out of the layout', async (t) => {
    const dir = path.join(out, 'oras-nondist');
    const o = (oracles.get('oras-nondist') ?? [])[0] as Oracle;
    const r = ocikit(['--json', 'resolve', dir, '--tag', 'v1']);
    t.equal(r.code, 0, `resolve\n${tail(r.stderr)}`);
    t.equal(json<{ descriptor: { digest: string } }>(r).descriptor.digest, o.digest);
    // verify and the base check: missing, and the hint says why (not "copy it again").
    for (const args of [
      ['verify', dir],
      ['context', `b=${dir}:v1`, '--buildx-version', '0.29.1', '--out', fresh('nondist')],
    ]) {
      const v = ocikit(['--json', ...args]);
      t.equal(v.code, 1, `${args[0]}: exit 1`);
      const text = v.stdout + v.stderr;
      t.match(text, /OCIKIT_BLOB_MISSING/, `${args[0]}: the layer is missing`);
      t.match(text, /non-distributable/, `${args[0]}: the hint names a non-distributable layer`);
      t.notMatch(text, /copy it again from its source/, `${args[0]}: not "copy it again"`);
    }
  });

  t.test(
    'Docker archives (skopeo docker-archive:, crane pull): refused, saying what they are',
    async (t) => {
      for (const file of ['docker-archive.tar', 'crane-tarball.tar']) {
        for (const args of [
          ['context', `b=${file}`, '--buildx-version', '0.29.1', '--out', fresh('docker')],
          ['unpack', file, '--out', fresh('docker')],
        ]) {
          const r = ocikit(['--json', ...args]);
          t.equal(r.code, 1, `${args[0]} ${file}: exit 1`);
          const e = json<{ error: { code: string; hint: string } }>(r).error;
          t.equal(e.code, 'OCIKIT_ARCHIVE_UNEXPECTED_ENTRY', `${args[0]} ${file}`);
          t.match(e.hint, /Docker archive/, `${args[0]} ${file}: the hint names a Docker archive`);
          t.match(
            e.hint,
            /skopeo copy docker-archive:/,
            `${args[0]} ${file}: and how to convert it`,
          );
        }
      }
    },
  );

  t.test('index: two producers merged, annotations kept', async (t) => {
    const digest = (shape: string, selector: string): string =>
      (oracles.get(shape) ?? []).find((o) => o.selector === selector)?.digest ?? 'missing';
    const amd64 = digest('umoci', 'v2');
    const arm64 = digest('buildx-multi', 'v1@linux/arm64');
    const merged = fresh('merged');
    const r = ocikit([
      '--json',
      'index',
      'umoci:v2',
      `buildx-multi@${arm64}`,
      '--annotation',
      'org.opencontainers.image.description=two producers',
      '--annotation',
      'index-descriptor:com.example.k=v',
      '--tag',
      'merged:1',
      '--tag',
      'm1',
      '--out',
      merged,
    ]);
    t.equal(r.code, 0, `index\n${tail(r.stderr)}`);
    if (r.code !== 0) return;
    t.equal(ocikit(['--strict', 'verify', merged]).code, 0, 'verify --strict of the merged layout');
    reread(merged, [
      {
        selector: 'm1@linux/amd64',
        tag: 'm1',
        platform: 'linux/amd64',
        digest: amd64,
        tool: 'umoci',
      },
      {
        selector: 'm1@linux/arm64',
        tag: 'm1',
        platform: 'linux/arm64',
        digest: arm64,
        tool: 'buildx',
      },
    ]);
    for (const [p, want] of [
      ['linux/amd64', amd64],
      ['linux/arm64', arm64],
    ] as const) {
      const res = ocikit(['resolve', merged, '--tag', 'merged:1', '--platform', p]);
      t.equal(res.stdout.trim(), want, `merged ${p} is the source's manifest`);
    }
    const idx = readJson<{ manifests: { digest: string; annotations?: Record<string, string> }[] }>(
      path.join(merged, 'index.json'),
    );
    t.equal(idx.manifests[0]?.annotations?.['com.example.k'], 'v', 'index.json entry annotation');
    const top = readJson<{ annotations?: Record<string, string> }>(
      path.join(merged, 'blobs', 'sha256', (idx.manifests[0]?.digest ?? '').slice(7)),
    );
    t.equal(
      top.annotations?.['org.opencontainers.image.description'],
      'two producers',
      'index annotation',
    );
    // A source named by its full name (buildx's io.containerd.image.name), and crane + oras.
    const full = ocikit([
      'index',
      'buildx:example.com/team/app:v1',
      `crane-multi@${arm64}`,
      '--out',
      fresh('full'),
    ]);
    t.equal(full.code, 0, `index with a source tagged by its full name\n${tail(full.stderr)}`);
    const artifacts = ocikit(['index', 'oras-multi:v1', '--out', fresh('oras')]);
    t.equal(
      artifacts.code,
      0,
      `index of oras copy -r's layout (referrers beside the index)\n${tail(artifacts.stderr)}`,
    );
  });

  t.test('oras reads what ocikit packed and merged as the producers wrote it', async (t) => {
    const lines = rereads.map(({ file, o }) => [file, o.tag ?? '', o.platform ?? '', o.digest]);
    t.ok(rereads.length > 20, `${rereads.length} archives and tags to read back`);
    const script = [
      'set -u',
      'while IFS="|" read -r file tag platform want; do',
      '  got=$(oras manifest fetch --descriptor --oci-layout "$file:$tag" ${platform:+--platform "$platform"} 2>&1 | sed -nE \'s/.*"digest":"(sha256:[0-9a-f]{64})".*/\\1/p\')',
      '  printf "%s|%s|%s|%s|%s\\n" "$file" "$tag" "$platform" "$want" "$got"',
      'done < "$1"',
    ].join('\n');
    const listFile = path.join(work, 'rereads.tsv');
    writeFileSync(listFile, lines.map((l) => l.join('|')).join('\n') + '\n');
    writeFileSync(path.join(work, 'rereads.sh'), script);
    const r = inRootfs('forky', ['bash', path.join(work, 'rereads.sh'), listFile], {
      binds: [work],
    });
    t.equal(r.code, 0, tail(r.stderr));
    const got = r.stdout
      .trim()
      .split('\n')
      .filter((l) => l !== '');
    t.equal(got.length, lines.length, 'one answer per archive and tag');
    for (const l of got) {
      const [file, tag, platform, want, digest] = l.split('|');
      t.equal(
        digest,
        want,
        `oras: ${path.basename(file ?? '')}:${tag}${platform !== '' ? ` ${platform}` : ''}`,
      );
    }
  });
}
