/**
 * `ocikit build` against a real buildx (issue 4 item 6), for the suite named by
 * OCIKIT_E2E_SUITE (test/e2e/run.sh runs this file once per suite):
 *   - success single- and multi-platform (one platform FROM scratch) from a read-only bind
 *     mount as root and from a 0555 tree as uid 65534; the input is byte-identical afterwards;
 *   - provenance attestations in the output, handled by resolve and verify;
 *   - a failing Dockerfile (missing COPY source): exit 1, OCIKIT_SOLVE_FAILED, the step named;
 *   - a buildx that stops mid-stream (a wrapper cutting stderr): a failure, nothing published;
 *   - annotations: kept ones pass, dropped ones (a wrapper that strips --annotation, as the
 *     multi-node merge does, PROBLEMS §4) fail, and --repair-annotations puts them back.
 */
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { BUNDLE } from '../helpers/cli.js';
import { standardLayout } from '../helpers/layout-builder.js';
import { NOBODY, isCI, mustRun, privateTestdir } from '../helpers/tools.js';
import { snapshotTree } from '../helpers/tree.js';
import { run, tail, type Ran } from './helpers/exec.js';
import { Mounts } from './helpers/mounts.js';
import { imagesOf, indexEntries, normPlatform } from './helpers/oci.js';
import {
  asNobodyWithDocker,
  loadSuite,
  nobodyClientEnv,
  type SuiteDaemon,
} from './helpers/suite.js';

type Test = Parameters<Parameters<typeof t.test>[0]>[0];

const loaded = loadSuite();
if ('problem' in loaded) {
  if (isCI())
    t.fail(
      `missing prerequisite "buildx daemon": ${loaded.problem}. CI=true: a missing prerequisite is a failure.`,
    );
  else t.plan(0, `missing prerequisite "buildx daemon": ${loaded.problem}`);
} else {
  main(loaded);
}

function ocikit(
  d: SuiteDaemon,
  args: string[],
  cwd: string,
  env: NodeJS.ProcessEnv = d.env,
  prefix: string[] = [],
): Ran {
  return run([process.execPath, BUNDLE, ...args], {
    env: { ...env, TMPDIR: env['TMPDIR'] ?? '/tmp' },
    cwd,
    prefix,
    timeoutMs: 300_000,
  });
}

/** A work dir with a layout (base), a Dockerfile app, and the input snapshot. */
function workspace(t: Test): { root: string; base: string } {
  const root = privateTestdir(t);
  const base = path.join(root, 'base');
  standardLayout(base);
  mkdirSync(path.join(root, 'app'));
  writeFileSync(path.join(root, 'app', 'Dockerfile'), 'FROM base\nCOPY added.txt /added.txt\n');
  writeFileSync(path.join(root, 'app', 'Dockerfile.bad'), 'FROM base\nCOPY missing.txt /\n');
  writeFileSync(path.join(root, 'app', 'added.txt'), 'added by the build\n');
  return { root, base };
}

/** A docker wrapper: `mode` cut (stderr cut after 1500 bytes, exit 0) or strip (drop --annotation). */
function wrapper(dir: string, d: SuiteDaemon, mode: 'cut' | 'strip'): string {
  const real = path.join(d.state, 'bin', 'docker');
  const file = path.join(dir, `docker-${mode}`);
  const body =
    mode === 'cut'
      ? `#!/bin/bash\n# a buildx whose stream stops in the middle\nif [ "$1" = buildx ] && [ "$2" = build ]; then\n  "${real}" "$@" 2>&1 >/dev/null | head -c 1500 >&2\n  exit 0\nfi\nexec "${real}" "$@"\n`
      : `#!/bin/bash\n# a builder that drops annotations\nargs=()\nskip=0\nfor a in "$@"; do\n  if [ $skip = 1 ]; then skip=0; continue; fi\n  if [ "$a" = --annotation ]; then skip=1; continue; fi\n  args+=("$a")\ndone\nexec "${real}" "\${args[@]}"\n`;
  writeFileSync(file, body);
  chmodSync(file, 0o755);
  return file;
}

function main(d: SuiteDaemon): void {
  t.comment(`suite ${d.suite}`);

  t.test('single- and multi-platform builds from a read-only bind mount (root)', async (t) => {
    const mounts = new Mounts(t); // first, so its teardown unmounts before the testdir goes
    const { root, base } = workspace(t);
    const before = snapshotTree(base);
    const ro = mounts.readOnly(base, path.join(root, 'base-ro'));
    const single = ocikit(
      d,
      [
        'build',
        '--build-context',
        `base=${ro}:single`,
        '--provenance=false',
        '--progress',
        'plain',
        '--out',
        'out-single',
        '--json',
        'app',
      ],
      root,
    );
    t.equal(single.code, 0, tail(single.stderr + single.stdout));
    const doc = JSON.parse(single.stdout) as { digest: string; contexts: { strategy: string }[] };
    t.equal(
      indexEntries(path.join(root, 'out-single'))[0]?.digest,
      doc.digest,
      'the output holds the reported digest',
    );
    const [img] = imagesOf(
      path.join(root, 'out-single'),
      indexEntries(path.join(root, 'out-single'))[0] as never,
    );
    t.equal(img?.files['added.txt'], 'added by the build\n');
    t.equal(img?.files['b.txt'], 'b\n', 'the base layers are there');

    const multi = ocikit(
      d,
      [
        'build',
        '--build-context',
        `base=${ro}:multi`,
        '--platform',
        'linux/amd64,linux/arm64',
        '--provenance=false',
        '--progress',
        'quiet',
        '--out',
        'out-multi',
        'app',
      ],
      root,
    );
    t.equal(multi.code, 0, tail(multi.stderr));
    const images = imagesOf(
      path.join(root, 'out-multi'),
      indexEntries(path.join(root, 'out-multi'))[0] as never,
    );
    t.same(images.map((i) => normPlatform(i.platform)).sort(), ['linux/amd64', 'linux/arm64']);
    const arm = images.find((i) => normPlatform(i.platform) === 'linux/arm64');
    t.same(Object.keys(arm?.files ?? {}), ['added.txt'], 'the scratch platform gets only the COPY');
    t.equal(arm?.layers, 1);
    t.equal(ocikit(d, ['verify', 'out-multi'], root).code, 0);
    t.same(snapshotTree(base), before, 'the input is byte-identical');
  });

  t.test('as uid 65534 on a 0555 tree', async (t) => {
    const { root, base } = workspace(t);
    mustRun('chmod', ['-R', 'a-w', base]);
    const before = snapshotTree(base);
    const home = path.join(root, 'home');
    const env = { ...nobodyClientEnv(d, home), TMPDIR: home };
    const out = path.join(root, 'outdir');
    mkdirSync(out);
    chownSync(out, NOBODY, NOBODY);
    for (const p of [root, path.join(root, 'app')]) chmodSync(p, 0o755);
    const r = ocikit(
      d,
      [
        'build',
        '--build-context',
        `base=${base}:multi`,
        '--platform',
        'linux/amd64,linux/arm64',
        '--provenance=false',
        '--progress',
        'plain',
        '--out',
        path.join(out, 'result'),
        path.join(root, 'app'),
      ],
      root,
      env,
      asNobodyWithDocker(d),
    );
    t.equal(r.code, 0, tail(r.stderr));
    t.equal(ocikit(d, ['verify', path.join(out, 'result')], root).code, 0);
    t.same(snapshotTree(base), before, 'the input is byte-identical');
    t.same(
      readdirSync(home).filter((n) => n.startsWith('ocikit-build-')),
      [],
      'private temp removed',
    );
  });

  t.test('provenance attestations in the output are handled', async (t) => {
    const { root, base } = workspace(t);
    const r = ocikit(
      d,
      [
        'build',
        '--build-context',
        `base=${base}:multi`,
        '--platform',
        'linux/amd64,linux/arm64',
        '--provenance=mode=min',
        '--progress',
        'quiet',
        '--out',
        'out',
        'app',
      ],
      root,
    );
    t.equal(r.code, 0, tail(r.stderr));
    const images = imagesOf(
      path.join(root, 'out'),
      indexEntries(path.join(root, 'out'))[0] as never,
    );
    t.ok(
      images.some((i) => i.attestation),
      'attestation manifests present',
    );
    const resolved = ocikit(d, ['resolve', 'out', '--platform', 'linux/arm64', '--json'], root);
    t.equal(resolved.code, 0, resolved.stderr);
    t.match(JSON.parse(resolved.stdout), { descriptor: { platform: { architecture: 'arm64' } } });
    t.equal(ocikit(d, ['verify', 'out'], root).code, 0);
  });

  t.test('a failing Dockerfile is reported with its step, exit 1, nothing published', async (t) => {
    const { root, base } = workspace(t);
    const r = ocikit(
      d,
      [
        'build',
        '--build-context',
        `base=${base}:single`,
        '-f',
        'app/Dockerfile.bad',
        '--progress',
        'quiet',
        '--out',
        'out',
        'app',
      ],
      root,
    );
    t.equal(r.code, 1);
    t.match(
      r.stderr,
      /ocikit: error OCIKIT_SOLVE_FAILED: step "[^"]*COPY missing.txt \/" failed: .*not found/,
    );
    t.notOk(existsSync(path.join(root, 'out')));
  });

  t.test('a buildx whose stream stops midway is a failure', async (t) => {
    const { root, base } = workspace(t);
    const r = ocikit(
      d,
      [
        'build',
        '--docker',
        wrapper(root, d, 'cut'),
        '--build-context',
        `base=${base}:single`,
        '--progress',
        'quiet',
        '--out',
        'out',
        'app',
      ],
      root,
    );
    t.equal(r.code, 1, r.stderr);
    t.match(r.stderr, /ocikit: error OCIKIT_(STREAM_INCOMPLETE|OUTPUT_INVALID): /);
    t.notOk(existsSync(path.join(root, 'out')), 'nothing published');
  });

  t.test('annotations: kept, dropped, repaired', async (t) => {
    const { root, base } = workspace(t);
    const ann = [
      '--annotation',
      'index:org.opencontainers.image.title=ocikit-e2e',
      '--annotation',
      'index-descriptor:org.example.kind=e2e',
    ];
    const common = [
      '--build-context',
      `base=${base}:multi`,
      '--platform',
      'linux/amd64,linux/arm64',
      '--provenance=false',
      '--progress',
      'quiet',
      // buildx's own annotation handling in one pass (the COPY leaves no platform empty, so
      // the one-pass build is safe on trixie too; split builds are test/e2e/buildx-split.ts).
      '--split-platforms',
      'never',
    ];
    const kept = ocikit(d, ['build', ...common, ...ann.slice(0, 2), '--out', 'kept', 'app'], root);
    t.equal(kept.code, 0, tail(kept.stderr));
    const strip = wrapper(root, d, 'strip');
    const dropped = ocikit(
      d,
      ['build', '--docker', strip, ...common, ...ann, '--out', 'dropped', 'app'],
      root,
    );
    t.equal(dropped.code, 1);
    t.match(
      dropped.stderr,
      /OCIKIT_ANNOTATIONS_MISSING: .*index:org.opencontainers.image.title=ocikit-e2e/,
    );
    t.notOk(existsSync(path.join(root, 'dropped')));
    const repaired = ocikit(
      d,
      [
        'build',
        '--docker',
        strip,
        ...common,
        ...ann,
        '--repair-annotations',
        '--out',
        'repaired',
        '--json',
        'app',
      ],
      root,
    );
    t.equal(repaired.code, 0, tail(repaired.stderr));
    const doc = JSON.parse(repaired.stdout) as {
      digest: string;
      annotations: { repaired: unknown[] };
    };
    t.equal(doc.annotations.repaired.length, 2);
    const inspect = JSON.parse(ocikit(d, ['inspect', 'repaired', '--json'], root).stdout) as {
      images: {
        digest: string;
        annotations: Record<string, string>;
        contentAnnotations: Record<string, string>;
      }[];
    };
    t.equal(inspect.images[0]?.digest, doc.digest);
    t.equal(inspect.images[0]?.contentAnnotations['org.opencontainers.image.title'], 'ocikit-e2e');
    t.equal(inspect.images[0]?.annotations['org.example.kind'], 'e2e');
    t.equal(ocikit(d, ['verify', 'repaired'], root).code, 0);
    // The repaired layout is itself a base buildx reads.
    const chained = ocikit(
      d,
      [
        'build',
        '--build-context',
        `base=repaired@${doc.digest}`,
        '--platform',
        'linux/amd64',
        '--provenance=false',
        '--progress',
        'quiet',
        '--out',
        'chained',
        'app',
      ],
      root,
    );
    t.equal(chained.code, 0, tail(chained.stderr));
  });
}
