/**
 * Interop with tools nobody here wrote (issue 11 item 10): the layouts ocikit writes go through
 * Debian forky's own crane, skopeo and oras, to and from Debian's distribution registry
 * (`docker-registry`, on 127.0.0.1), all run inside the forky root filesystem
 * (scripts/e2e/in-rootfs.sh). test/e2e/run.sh runs this file for the forky suite; the layouts
 * are built with the suite's daemon (buildx 0.29.1 in forky):
 *   - `ocikit build`, single-platform (an image manifest) and multi-platform with provenance
 *     attestations and an index annotation (an image index), as buildx_build writes them;
 *   - `ocikit index` of two per-platform builds, with index annotations, as oci_layout_index
 *     writes it.
 * For each: oras reads the layout (`repo tags`, `manifest fetch` by tag, by digest, by platform,
 * `--descriptor`); crane push, skopeo copy and oras copy push it; the registry serves the same
 * manifest bytes under the same digest and every blob byte for byte; crane pull --format=oci,
 * skopeo copy and oras copy pull it back BY DIGEST (crossed: each pulls what another pushed);
 * every pulled layout holds the same root digest, the same blob set with identical bytes, the
 * index annotations, and passes `ocikit verify`. One OBSERVED line per layout and tool.
 */
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { BUNDLE } from '../helpers/cli.js';
import { standardLayout } from '../helpers/layout-builder.js';
import { isCI } from '../helpers/tools.js';
import { run, secs, tail, type Ran } from './helpers/exec.js';
import { blobPath, graphOf, indexEntries, readJson, type Desc } from './helpers/oci.js';
import {
  freePort,
  inRootfs,
  missingTools,
  rootfsDir,
  startInRootfs,
  stopInRootfs,
} from './helpers/rootfs.js';
import { withSuite, type SuiteDaemon } from './helpers/suite.js';

type Test = Parameters<Parameters<typeof t.test>[0]>[0];

/** The tools of this file, all from the forky root filesystem. */
const TOOLS = ['crane', 'skopeo', 'oras', 'docker-registry'] as const;
const TOOLS_SUITE = 'forky';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';

const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** A layout under test: its tag and the index.json entry the tag names. */
interface Input {
  name: string;
  dir: string;
  tag: string;
  desc: Desc;
  /** Annotations the root manifest or index itself must carry (wherever it is copied). */
  annotations: Record<string, string>;
  /** Platforms to resolve through oras --platform (indexes only). */
  platforms: string[];
}

withSuite(t, (d) => {
  const missing = missingTools(TOOLS_SUITE, TOOLS);
  if (missing.length === 0) return main(d);
  const why = `missing prerequisite: ${missing.join(', ')} not in ${rootfsDir(TOOLS_SUITE)}/usr/bin (scripts/e2e/rootfs.sh installs them in the forky root filesystem)`;
  if (isCI()) t.fail(`${why}. CI=true: a missing prerequisite is a failure.`);
  else t.plan(0, why);
});

/** The work directory: under OCIKIT_E2E_TMP (inside the rootfs it is part of its private /tmp). */
function workDir(): string {
  const parent = process.env['OCIKIT_E2E_TMP'] ?? os.tmpdir();
  const dir = mkdtempSync(path.join(parent, 'interop-'));
  chmodSync(dir, 0o755);
  return dir;
}

function main(d: SuiteDaemon): void {
  const work = workDir();
  const registries: ChildProcess[] = [];
  t.teardown(async () => {
    for (const r of registries) await stopInRootfs(r); // before its storage goes
    rmSync(work, { recursive: true, force: true });
  });
  const tool = (cmd: string[], timeoutMs = 300_000): Ran =>
    inRootfs(TOOLS_SUITE, cmd, { binds: [work], env: [`TMPDIR=${work}/tmp`], timeoutMs });
  mkdirSync(path.join(work, 'tmp'));
  const ocikit = (args: string[]): Ran =>
    run([process.execPath, BUNDLE, ...args], {
      env: { ...d.env, TMPDIR: d.env['TMPDIR'] ?? '/tmp' },
      cwd: work,
      timeoutMs: 300_000,
    });
  /**
   * skopeo as root keeps a blob-info cache in /var/lib/containers/cache: a tmpfs over
   * /var/lib/containers (in in-rootfs.sh's private mount namespace) keeps each run independent
   * and leaves the shared rootfs with at most that empty directory.
   */
  const skopeo = (args: string[]): Ran =>
    tool([
      'bash',
      '-c',
      'set -e; mkdir -p /var/lib/containers; mount -t tmpfs -o mode=0700 tmpfs /var/lib/containers; exec skopeo "$@"',
      'skopeo',
      ...args,
    ]);

  const registry = { port: 0, host: '' };
  t.before(async () => {
    registry.port = await startRegistry(work, registries);
    registry.host = `127.0.0.1:${registry.port}`;
  });

  const inputs: Input[] = [];

  t.test(`${d.suite}: tool versions`, async (t) => {
    const stamp = readFileSync(path.join(rootfsDir(TOOLS_SUITE), '.ocikit-rootfs-stamp'), 'utf8');
    const versions = TOOLS.map((name) => {
      const m = new RegExp(`^${name}: (.+)$`, 'm').exec(stamp);
      return `${name} ${m?.[1] ?? '?'}`;
    });
    const crane = tool(['crane', 'version']);
    succeeded(t, crane, 'crane version');
    t.comment(
      `OBSERVED suite=${d.suite} interop tools (${TOOLS_SUITE} packages): ${versions.join(', ')}; registry on ${registry.host}`,
    );
  });

  t.test(`${d.suite}: the layouts (ocikit build with buildx, ocikit index)`, async (t) => {
    standardLayout(path.join(work, 'base'));
    mkdirSync(path.join(work, 'app'));
    writeFileSync(
      path.join(work, 'app', 'Dockerfile'),
      'FROM base\nARG TARGETARCH\nCOPY app.txt /app-$TARGETARCH.txt\n',
    );
    writeFileSync(path.join(work, 'app', 'app.txt'), 'interop\n');
    const build = (out: string, platforms: string, extra: string[]): void => {
      const r = ocikit([
        'build',
        '--build-context',
        'base=base:multi',
        '--platform',
        platforms,
        '--build-arg',
        'SOURCE_DATE_EPOCH=0',
        '--progress',
        'plain',
        '--out',
        out,
        ...extra,
        'app',
      ]);
      succeeded(t, r, `ocikit build ${out}`);
    };
    build('single', 'linux/amd64', ['--provenance=false', '--tag', 'interop.example/app:single']);
    build('multi', 'linux/amd64,linux/arm64', [
      '--provenance=mode=min',
      '--annotation',
      'index:org.opencontainers.image.description=interop multi',
      '--tag',
      'interop.example/app:multi',
    ]);
    build('amd64', 'linux/amd64', ['--provenance=false']);
    build('arm64', 'linux/arm64', ['--provenance=false']);
    const annotations = [
      'org.opencontainers.image.source=https://example.com/interop',
      'org.opencontainers.image.version=1.0',
      'index-descriptor:org.example.layout-only=yes',
    ];
    const merged = ocikit([
      ...'index --out merged amd64 arm64 --tag merged'.split(' '),
      ...annotations.flatMap((a) => ['--annotation', a]),
    ]);
    succeeded(t, merged, 'ocikit index');

    const entry = (dir: string, tag: string): Desc => {
      const found = indexEntries(path.join(work, dir)).find(
        (e) => e.annotations?.['org.opencontainers.image.ref.name'] === tag,
      );
      if (found === undefined) throw new Error(`${dir}: no index.json entry tagged ${tag}`);
      return found;
    };
    inputs.push(
      {
        name: 'single',
        dir: path.join(work, 'single'),
        tag: 'single',
        desc: entry('single', 'single'),
        annotations: {},
        platforms: [],
      },
      {
        name: 'multi',
        dir: path.join(work, 'multi'),
        tag: 'multi',
        desc: entry('multi', 'multi'),
        annotations: { 'org.opencontainers.image.description': 'interop multi' },
        platforms: ['linux/amd64', 'linux/arm64'],
      },
      {
        name: 'merged',
        dir: path.join(work, 'merged'),
        tag: 'merged',
        desc: entry('merged', 'merged'),
        annotations: {
          'org.opencontainers.image.source': 'https://example.com/interop',
          'org.opencontainers.image.version': '1.0',
        },
        platforms: ['linux/amd64', 'linux/arm64'],
      },
    );
    t.same(
      inputs.map((i) => i.desc.mediaType),
      [
        'application/vnd.oci.image.manifest.v1+json',
        'application/vnd.oci.image.index.v1+json',
        'application/vnd.oci.image.index.v1+json',
      ],
      'an image manifest, a buildx index, an ocikit index',
    );
    for (const i of inputs) t.equal(ocikit(['verify', i.dir]).code, 0, `ocikit verify ${i.name}`);
  });

  t.test(`${d.suite}: oras reads the layouts`, async (t) => {
    t.ok(inputs.length > 0, 'the layouts were built');
    for (const i of inputs) {
      const raw = readFileSync(blobPath(i.dir, i.desc.digest));
      const tags = tool(['oras', 'repo', 'tags', '--oci-layout', i.dir]);
      succeeded(t, tags, `${i.name}: oras repo tags`);
      t.ok(tags.stdout.split('\n').includes(i.tag), `${i.name}: oras repo tags lists ${i.tag}`);
      for (const ref of [`${i.dir}:${i.tag}`, `${i.dir}@${i.desc.digest}`]) {
        const f = tool(['oras', 'manifest', 'fetch', '--oci-layout', ref]);
        succeeded(t, f, `${i.name}: oras manifest fetch ${ref}`);
        t.equal(f.stdout, raw.toString('utf8'), `${i.name}: oras manifest fetch ${ref} = the blob`);
      }
      const dsc = tool([
        'oras',
        'manifest',
        'fetch',
        '--oci-layout',
        '--descriptor',
        `${i.dir}:${i.tag}`,
      ]);
      succeeded(t, dsc, `${i.name}: oras manifest fetch --descriptor`);
      t.match(
        JSON.parse(dsc.stdout),
        { mediaType: i.desc.mediaType, digest: i.desc.digest, size: i.desc.size },
        `${i.name}: oras --descriptor = index.json's entry`,
      );
      const picked: string[] = [];
      for (const p of i.platforms) {
        const f = tool([
          'oras',
          'manifest',
          'fetch',
          '--oci-layout',
          '--platform',
          p,
          `${i.dir}:${i.tag}`,
        ]);
        succeeded(t, f, `${i.name}: oras manifest fetch --platform ${p}`);
        const r = ocikit(['resolve', i.dir, '--tag', i.tag, '--platform', p, '--json']);
        succeeded(t, r, `${i.name}: ocikit resolve --platform ${p}`);
        const ours = (JSON.parse(r.stdout) as { descriptor: Desc }).descriptor.digest;
        t.equal(
          sha256(Buffer.from(f.stdout)),
          ours,
          `${i.name} ${p}: oras and ocikit resolve pick the same manifest`,
        );
        picked.push(`${p}=${ours.slice(7, 19)}`);
      }
      t.comment(
        `OBSERVED suite=${d.suite} layout=${i.name} oras (oci-layout): tags, fetch by tag/digest/--descriptor ok${picked.length > 0 ? `; --platform ${picked.join(' ')} (= ocikit resolve)` : ''}`,
      );
    }
  });

  t.test(`${d.suite}: push (crane, skopeo, oras) and the registry's copy`, async (t) => {
    t.ok(inputs.length > 0, 'the layouts were built');
    for (const i of inputs) {
      const notes: string[] = [];
      const crane = tool([
        'crane',
        'push',
        '--insecure',
        i.dir,
        `${registry.host}/crane/${i.name}:${i.tag}`,
      ]);
      succeeded(t, crane, `${i.name}: crane push`);
      t.equal(
        crane.stdout.trim(),
        `${registry.host}/crane/${i.name}@${i.desc.digest}`,
        `${i.name}: crane push prints the layout's digest`,
      );
      notes.push(
        `crane push ${crane.code === 0 ? 'ok' : `FAILED ${crane.code}`} (${secs(crane.ms)})`,
      );

      const digestFile = path.join(work, 'tmp', `skopeo-push-${i.name}.digest`);
      const sk = skopeo([
        'copy',
        '--all',
        '--preserve-digests',
        '--dest-tls-verify=false',
        '--digestfile',
        digestFile,
        `oci:${i.dir}:${i.tag}`,
        `docker://${registry.host}/skopeo/${i.name}:${i.tag}`,
      ]);
      succeeded(t, sk, `${i.name}: skopeo copy oci: docker://`);
      t.equal(
        sk.code === 0 ? readFileSync(digestFile, 'utf8').trim() : '',
        i.desc.digest,
        `${i.name}: skopeo's digest`,
      );
      notes.push(
        `skopeo copy --all --preserve-digests ${sk.code === 0 ? 'ok' : `FAILED ${sk.code}`} (${secs(sk.ms)})`,
      );

      const oc = tool([
        'oras',
        'cp',
        '--from-oci-layout',
        `${i.dir}:${i.tag}`,
        '--to-plain-http',
        `${registry.host}/oras/${i.name}:${i.tag}`,
      ]);
      succeeded(t, oc, `${i.name}: oras cp --from-oci-layout`);
      notes.push(`oras cp ${oc.code === 0 ? 'ok' : `FAILED ${oc.code}`} (${secs(oc.ms)})`);

      // What the registry serves, read over HTTP by the test itself.
      const graph = graphOf(i.dir, i.desc);
      for (const repo of ['crane', 'skopeo', 'oras']) {
        const m = await fetchRegistry(
          registry.host,
          `${repo}/${i.name}/manifests/${i.tag}`,
          i.desc.mediaType,
        );
        t.equal(m.status, 200, `${repo}/${i.name}:${i.tag}: manifest served`);
        t.equal(m.digestHeader, i.desc.digest, `${repo}/${i.name}:${i.tag}: Docker-Content-Digest`);
        t.ok(
          m.body.equals(readFileSync(blobPath(i.dir, i.desc.digest))),
          `${repo}/${i.name}:${i.tag}: same bytes`,
        );
        let same = 0;
        for (const b of graph.slice(1)) {
          const isManifest = b.mediaType.includes('manifest') || b.mediaType.includes('index');
          const r = await fetchRegistry(
            registry.host,
            `${repo}/${i.name}/${isManifest ? 'manifests' : 'blobs'}/${b.digest}`,
            b.mediaType,
          );
          if (r.status === 200 && r.body.equals(readFileSync(blobPath(i.dir, b.digest)))) same++;
          else
            t.fail(
              `${repo}/${i.name}: ${b.digest} (${b.mediaType}): status ${r.status}, not the layout's bytes`,
            );
        }
        t.equal(
          same,
          graph.length - 1,
          `${repo}/${i.name}: every manifest and blob byte-identical`,
        );
      }
      t.comment(
        `OBSERVED suite=${d.suite} layout=${i.name} (${kind(i.desc)}, ${graph.length} blobs) push: ${notes.join(' | ')}; registry serves ${i.desc.digest.slice(0, 19)} and every blob byte-identical`,
      );
    }
  });

  t.test(
    `${d.suite}: pull back by digest (crane pull, skopeo copy, oras cp), identical`,
    async (t) => {
      t.ok(inputs.length > 0, 'the layouts were built');
      for (const i of inputs) {
        const byDigest = (repo: string): string =>
          `${registry.host}/${repo}/${i.name}@${i.desc.digest}`;
        const pulls: { tool: string; dir: string; ran: Ran }[] = [];
        const craneDir = path.join(work, 'pulled', `crane-${i.name}`);
        mkdirSync(path.dirname(craneDir), { recursive: true });
        pulls.push({
          tool: "crane pull --format=oci (of skopeo's push)",
          dir: craneDir,
          ran: tool(['crane', 'pull', '--insecure', '--format=oci', byDigest('skopeo'), craneDir]),
        });
        const skopeoDir = path.join(work, 'pulled', `skopeo-${i.name}`);
        pulls.push({
          tool: "skopeo copy (of oras' push)",
          dir: skopeoDir,
          ran: skopeo([
            'copy',
            '--all',
            '--preserve-digests',
            '--src-tls-verify=false',
            `docker://${byDigest('oras')}`,
            `oci:${skopeoDir}:${i.tag}`,
          ]),
        });
        const orasDir = path.join(work, 'pulled', `oras-${i.name}`);
        pulls.push({
          tool: "oras cp (of crane's push)",
          dir: orasDir,
          ran: tool([
            'oras',
            'cp',
            '--from-plain-http',
            byDigest('crane'),
            '--to-oci-layout',
            `${orasDir}:${i.tag}`,
          ]),
        });

        const ours = graphOf(i.dir, i.desc);
        for (const p of pulls) {
          const label = `${i.name} <- ${p.tool}`;
          succeeded(t, p.ran, label);
          if (p.ran.code !== 0) {
            t.comment(
              `OBSERVED suite=${d.suite} layout=${i.name} pull: ${p.tool} FAILED: ${tail(p.ran.stderr, 2)}`,
            );
            continue;
          }
          const observed = comparePulled(t, label, i, ours, p.dir);
          const verify = ocikit(['verify', p.dir, '--digest', i.desc.digest]);
          succeeded(t, verify, `${label}: ocikit verify`);
          const strict = ocikit(['--strict', 'verify', p.dir, '--digest', i.desc.digest]);
          t.comment(
            `OBSERVED suite=${d.suite} layout=${i.name} pull by digest: ${p.tool}: ${observed}; ocikit verify ${verify.code === 0 ? 'ok' : `FAILED ${verify.code}`}, --strict ${strict.code === 0 ? 'ok' : `exit ${strict.code}: ${tail(strict.stderr, 1)}`}`,
          );
        }
      }
    },
  );

  t.test(`${d.suite}: crane push --index: index.json itself is an image index`, async (t) => {
    t.ok(inputs.length > 0, 'the layouts were built');
    for (const i of inputs) {
      const indexJson = readFileSync(path.join(i.dir, 'index.json'));
      const digest = sha256(indexJson);
      const ref = `${registry.host}/layout/${i.name}`;
      const push = tool(['crane', 'push', '--insecure', '--index', i.dir, `${ref}:index-json`]);
      succeeded(t, push, `${i.name}: crane push --index`);
      t.equal(
        push.stdout.trim(),
        `${ref}@${digest}`,
        `${i.name}: pushed as the bytes of index.json`,
      );
      const served = await fetchRegistry(
        registry.host,
        `layout/${i.name}/manifests/${digest}`,
        OCI_INDEX,
      );
      t.ok(
        served.status === 200 && served.body.equals(indexJson),
        `${i.name}: the registry serves index.json`,
      );
      const pulled = path.join(work, 'pulled', `index-json-${i.name}`);
      const pull = tool([
        'crane',
        'pull',
        '--insecure',
        '--format=oci',
        `${ref}@${digest}`,
        pulled,
      ]);
      succeeded(t, pull, `${i.name}: crane pull --format=oci by digest`);
      if (pull.code !== 0) continue;
      const nested: Desc = { mediaType: OCI_INDEX, digest, size: indexJson.length };
      const theirs = graphOf(pulled, nested).map((b) => b.digest);
      for (const b of graphOf(i.dir, i.desc)) {
        const there = theirs.includes(b.digest);
        t.ok(
          there &&
            readFileSync(blobPath(pulled, b.digest)).equals(
              readFileSync(blobPath(i.dir, b.digest)),
            ),
          `${i.name}: ${b.digest.slice(0, 19)} pulled byte-identical`,
        );
      }
      const child = readJson<{ manifests: Desc[] }>(blobPath(pulled, digest)).manifests.find(
        (m) => m.digest === i.desc.digest,
      );
      t.same(
        child?.annotations,
        i.desc.annotations,
        `${i.name}: index.json's descriptor annotations travel inside it`,
      );
      const verify = ocikit(['verify', pulled, '--digest', digest]);
      succeeded(t, verify, `${i.name}: ocikit verify of the pulled nested index`);
      t.comment(
        `OBSERVED suite=${d.suite} layout=${i.name} crane push --index (index.json as the index, ${digest.slice(0, 19)}): ${push.code === 0 ? 'ok' : 'FAILED'}; pulled by digest: descriptor annotations [${Object.keys(
          child?.annotations ?? {},
        )
          .sort()
          .join(' ')}], ocikit verify ${verify.code === 0 ? 'ok' : `FAILED ${verify.code}`}`,
      );
    }
  });
}

/** A command exited 0 (its command line and stderr shown when it did not). */
function succeeded(t: Test, r: Ran, what: string): boolean {
  return t.equal(r.code, 0, `${what}: exit 0`, { command: r.command, stderr: tail(r.stderr, 20) });
}

/** What an index.json entry points at, in a word. */
function kind(d: Desc): string {
  return d.mediaType.includes('index') ? 'index' : 'image manifest';
}

/**
 * The pulled layout `dir` against the input: an index.json entry with the same digest, media
 * type and size; the same blob set reachable from it; every blob byte-identical; the root's
 * annotations. Returns a summary for the OBSERVED line.
 */
function comparePulled(t: Test, label: string, i: Input, ours: Desc[], dir: string): string {
  const entry = indexEntries(dir).find((e) => e.digest === i.desc.digest);
  t.match(
    entry,
    { mediaType: i.desc.mediaType, digest: i.desc.digest, size: i.desc.size },
    `${label}: index.json entry`,
  );
  if (entry === undefined) return 'root digest MISSING from index.json';
  const theirs = graphOf(dir, entry);
  t.same(
    theirs.map((b) => b.digest).sort(),
    ours.map((b) => b.digest).sort(),
    `${label}: the same blobs are reachable`,
  );
  let identical = 0;
  for (const b of ours) {
    let bytes: Buffer | undefined;
    try {
      bytes = readFileSync(blobPath(dir, b.digest));
    } catch {
      bytes = undefined;
    }
    if (bytes !== undefined && bytes.equals(readFileSync(blobPath(i.dir, b.digest)))) identical++;
    else t.fail(`${label}: ${b.digest} missing or different`);
  }
  t.equal(identical, ours.length, `${label}: every blob byte-identical`);
  const root = readJson<{ annotations?: Record<string, string> }>(blobPath(dir, i.desc.digest));
  t.same(root.annotations ?? {}, i.annotations, `${label}: the root's annotations`);
  const entryAnnotations = Object.keys(entry.annotations ?? {}).sort();
  return `root ${i.desc.digest.slice(0, 19)} kept, ${identical}/${ours.length} blobs identical, annotations ${Object.keys(i.annotations).length > 0 ? 'kept' : '(none)'}; index.json entry annotations [${entryAnnotations.join(' ')}]`;
}

interface Fetched {
  status: number;
  digestHeader: string | null;
  body: Buffer;
}

/** GET http://HOST/v2/PATH with `accept` (the descriptor's media type), as a registry client would. */
async function fetchRegistry(host: string, p: string, accept: string): Promise<Fetched> {
  const r = await fetch(`http://${host}/v2/${p}`, { headers: { Accept: accept } });
  return {
    status: r.status,
    digestHeader: r.headers.get('docker-content-digest'),
    body: Buffer.from(await r.arrayBuffer()),
  };
}

/**
 * Debian's distribution registry on 127.0.0.1 (a free port; retried on another when it loses
 * the port to someone else), storage in `work`/registry; each process started is added to
 * `started` (the caller stops them). Returns the port.
 */
async function startRegistry(work: string, started: ChildProcess[]): Promise<number> {
  const dir = path.join(work, 'registry');
  mkdirSync(path.join(dir, 'data'), { recursive: true });
  const log = path.join(dir, 'registry.log');
  let last = '';
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const config = path.join(dir, `config-${port}.yml`);
    writeFileSync(
      config,
      [
        'version: 0.1',
        'log:',
        '  level: info',
        '  formatter: text',
        'storage:',
        '  filesystem:',
        `    rootdirectory: ${path.join(dir, 'data')}`,
        '  delete:',
        '    enabled: true',
        'http:',
        `  addr: 127.0.0.1:${port}`,
        '',
      ].join('\n'),
    );
    const child = startInRootfs(TOOLS_SUITE, ['docker-registry', 'serve', config], {
      binds: [work],
      log,
    });
    started.push(child);
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline && child.exitCode === null) {
      try {
        const r = await fetch(`http://127.0.0.1:${port}/v2/`);
        if (r.status === 200) return port;
        last = `GET /v2/: ${r.status}`;
      } catch (e) {
        last = (e as Error).message;
      }
      await new Promise((res) => setTimeout(res, 100));
    }
    await stopInRootfs(child);
    last = `${last}; log: ${tail(readFileSync(log, 'utf8'), 5)}`;
  }
  throw new Error(`docker-registry did not answer on 127.0.0.1: ${last}`);
}
