/**
 * Issue 6 against a real buildx, for the suite named by OCIKIT_E2E_SUITE (run with
 * `OCIKIT_E2E_FILES='test/e2e/archive-*.ts' bash test/e2e/run.sh`, or by hand with
 * OCIKIT_E2E_SUITE=trixie OCIKIT_E2E_STATE=<dockerd.sh state dir>):
 *   - buildx builds one single-platform layout per platform (as separate Bazel actions or
 *     builder nodes would); `ocikit index` merges them with index annotations; skopeo reads
 *     the result with the annotations; buildx builds FROM the merged index for both platforms;
 *   - buildx `--output type=oci,dest=x.tar` archives unpack with `ocikit unpack`;
 *   - `ocikit pack` archives and buildx archives are build contexts as `NAME=FILE.tar:TAG`.
 * buildx's `imagetools inspect` reads registries only, not local layouts: skopeo and
 * `ocikit verify` are the readers here.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { isCI, mustRun, privateTestdir, requireTool } from '../helpers/tools.js';
import { run, tail, type Ran } from './helpers/exec.js';
import { loadSuite, ocikitAs as ocikit, type SuiteDaemon } from './helpers/suite.js';

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

function buildx(d: SuiteDaemon, args: string[], cwd: string): Ran {
  return run(['docker', 'buildx', 'build', '--progress=plain', ...args], {
    env: d.env,
    cwd,
    timeoutMs: 300_000,
  });
}

function main(d: SuiteDaemon): void {
  t.test(
    `${d.suite}: per-platform buildx layouts merged by ocikit index, read by skopeo, built FROM by buildx`,
    async (t) => {
      if (!requireTool(t, 'skopeo')) return;
      const root = privateTestdir(t);
      mkdirSync(path.join(root, 'src'));
      writeFileSync(
        path.join(root, 'src', 'Dockerfile'),
        'FROM scratch\nARG TARGETARCH\nCOPY hello.txt /hello-$TARGETARCH.txt\n',
      );
      writeFileSync(path.join(root, 'src', 'hello.txt'), 'hello\n');
      for (const arch of ['amd64', 'arm64']) {
        const b = buildx(
          d,
          ['--platform', `linux/${arch}`, '--output', `type=oci,dest=${arch},tar=false`, 'src'],
          root,
        );
        t.equal(b.code, 0, tail(b.stderr));
      }
      const merged = ocikit(
        d,
        [
          'index',
          '--out',
          'merged',
          'amd64',
          'arm64',
          '--tag',
          'base',
          '--annotation',
          'org.opencontainers.image.source=https://example.com/base',
          '--json',
        ],
        root,
      );
      t.equal(merged.code, 0, merged.stdout + merged.stderr);
      const result = JSON.parse(merged.stdout) as {
        descriptor: { digest: string };
        manifests: { platform: string }[];
      };
      t.same(
        result.manifests.map((m) => m.platform),
        ['linux/amd64', 'linux/arm64'],
      );
      const raw = mustRun('skopeo', ['inspect', '--raw', 'oci:merged:base'], { cwd: root });
      t.equal(`sha256:${createHash('sha256').update(raw).digest('hex')}`, result.descriptor.digest);
      t.same(
        (JSON.parse(raw.toString('utf8')) as { annotations: Record<string, string> }).annotations,
        { 'org.opencontainers.image.source': 'https://example.com/base' },
      );
      t.equal(ocikit(d, ['verify', 'merged'], root).code, 0);

      // buildx builds on the merged index, both platforms, through ocikit build (digest-pinned context).
      mkdirSync(path.join(root, 'app'));
      writeFileSync(path.join(root, 'app', 'Dockerfile'), 'FROM base\nCOPY app.txt /app.txt\n');
      writeFileSync(path.join(root, 'app', 'app.txt'), 'app\n');
      const built = ocikit(
        d,
        [
          'build',
          '--build-context',
          'base=merged:base',
          '--platform',
          'linux/amd64,linux/arm64',
          '--out',
          'app-out',
          '--progress',
          'plain',
          'app',
        ],
        root,
      );
      t.equal(built.code, 0, tail(built.stderr, 30));
      const inspect = JSON.parse(ocikit(d, ['inspect', 'app-out', '--json'], root).stdout) as {
        images: { manifests: { platform: string; layers: number; attestation: boolean }[] }[];
      };
      const images = inspect.images[0]?.manifests.filter((m) => !m.attestation) ?? [];
      t.same(
        images.map((m) => [m.platform, m.layers]),
        [
          ['linux/amd64', 2],
          ['linux/arm64', 2],
        ],
        'each platform: the base layer + the COPY',
      );
    },
  );

  t.test(
    `${d.suite}: buildx type=oci,dest=x.tar archives unpack; archives are build contexts`,
    async (t) => {
      const root = privateTestdir(t);
      mkdirSync(path.join(root, 'src'));
      writeFileSync(path.join(root, 'src', 'Dockerfile'), 'FROM scratch\nCOPY f.txt /f.txt\n');
      writeFileSync(path.join(root, 'src', 'f.txt'), 'f\n');
      const b = buildx(
        d,
        [
          '--platform',
          'linux/amd64,linux/arm64',
          '--annotation',
          'index:org.example.k=v',
          '--output',
          'type=oci,dest=base.tar',
          'src',
        ],
        root,
      );
      t.equal(b.code, 0, tail(b.stderr));
      const u = ocikit(d, ['unpack', 'base.tar', '--out', 'unpacked', '--json'], root);
      t.equal(u.code, 0, u.stdout + u.stderr);
      t.equal(ocikit(d, ['verify', 'unpacked'], root).code, 0);
      // ocikit pack of the unpacked layout, then both archives as build contexts.
      t.equal(ocikit(d, ['pack', 'unpacked', '--out', 'repacked.tar'], root).code, 0);
      mkdirSync(path.join(root, 'app'));
      writeFileSync(path.join(root, 'app', 'Dockerfile'), 'FROM base\nCOPY g.txt /g.txt\n');
      writeFileSync(path.join(root, 'app', 'g.txt'), 'g\n');
      for (const archive of ['base.tar', 'repacked.tar']) {
        const out = `out-${archive.replace('.tar', '')}`;
        const built = ocikit(
          d,
          [
            'build',
            '--build-context',
            `base=${archive}`,
            '--platform',
            'linux/arm64',
            '--out',
            out,
            '--progress',
            'plain',
            'app',
          ],
          root,
        );
        t.equal(built.code, 0, `${archive}: ${tail(built.stderr, 30)}`);
        const resolved = JSON.parse(ocikit(d, ['resolve', out, '--json'], root).stdout) as {
          layers: number;
          descriptor: { platform: { architecture: string } };
        };
        t.match(
          resolved,
          { layers: 2, descriptor: { platform: { architecture: 'arm64' } } },
          archive,
        );
      }
      void readFileSync;
    },
  );
}
