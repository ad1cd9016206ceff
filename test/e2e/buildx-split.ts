/**
 * `ocikit build --split-platforms` against real buildx (issue 13), once per suite:
 *   - trixie (dockerd 26.1.5, BuildKit 0.13.2: has the OCI exporter crash on an empty platform):
 *     `FROM base` with a zero-layer arm64 base builds through the split path, index
 *     annotations are present, and the daemon is alive afterwards (a second build succeeds);
 *   - forky (dockerd 28.5.2, fixed): auto builds in one pass, and the split path gives the same
 *     per-platform manifests (SOURCE_DATE_EPOCH=0, no provenance).
 * The crash itself (--split-platforms=never on trixie) kills the daemon, so it runs alone:
 * test/e2e/split-serial.ts.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { BUNDLE } from '../helpers/cli.js';
import { standardLayout } from '../helpers/layout-builder.js';
import { privateTestdir } from '../helpers/tools.js';
import { run, tail, type Ran } from './helpers/exec.js';
import { imagesOf, indexEntries, normPlatform, readJson } from './helpers/oci.js';
import { withSuite, type SuiteDaemon } from './helpers/suite.js';

type Test = Parameters<Parameters<typeof t.test>[0]>[0];

const TITLE = 'org.opencontainers.image.title';

withSuite(t, main);

function ocikit(d: SuiteDaemon, args: string[], cwd: string): Ran {
  return run([process.execPath, BUNDLE, ...args], {
    env: { ...d.env, TMPDIR: '/tmp' },
    cwd,
    timeoutMs: 300_000,
  });
}

function workspace(t: Test): string {
  const root = privateTestdir(t);
  standardLayout(path.join(root, 'base'));
  mkdirSync(path.join(root, 'app'));
  writeFileSync(path.join(root, 'app', 'Dockerfile'), 'FROM base\n');
  return root;
}

/** `build` of the reproduction: FROM base, amd64 with one layer, arm64 zero layers. */
function reproduction(d: SuiteDaemon, root: string, out: string, extra: string[] = []): Ran {
  return ocikit(
    d,
    [
      'build',
      '--build-context',
      'base=base:multi',
      '--platform',
      'linux/amd64,linux/arm64',
      '--provenance=false',
      '--build-arg',
      'SOURCE_DATE_EPOCH=0',
      '--annotation',
      `index:${TITLE}=split-test`,
      '--progress',
      'quiet',
      '--out',
      out,
      '--json',
      ...extra,
      'app',
    ],
    root,
  );
}

/** Per-platform image manifest digests of an output layout. */
function manifests(dir: string): Record<string, string> {
  const top = indexEntries(dir)[0] as never;
  return Object.fromEntries(
    imagesOf(dir, top)
      .filter((i) => !i.attestation)
      .map((i) => [normPlatform(i.platform), i.digest]),
  );
}

function main(d: SuiteDaemon): void {
  t.comment(`suite ${d.suite}`);
  const affected = d.suite === 'trixie';

  t.test('the reproduction builds; auto splits exactly on the affected daemon', async (t) => {
    const root = workspace(t);
    const r = reproduction(d, root, 'r1');
    t.equal(r.code, 0, tail(r.stderr + r.stdout));
    const doc = JSON.parse(r.stdout) as {
      digest: string;
      split: { split: boolean; reason: string };
    };
    t.equal(doc.split.split, affected, `split on ${d.suite}: ${doc.split.reason}`);
    t.comment(
      `OBSERVED suite=${d.suite} split-platforms=auto split=${doc.split.split}: ${doc.split.reason}`,
    );
    t.same(Object.keys(manifests(path.join(root, 'r1'))).sort(), ['linux/amd64', 'linux/arm64']);
    const top = indexEntries(path.join(root, 'r1')).find((e) => e.digest === doc.digest);
    t.ok(top, 'index.json names the reported digest');
    const index = readJson<{ annotations?: Record<string, string> }>(
      path.join(root, 'r1', 'blobs', ...doc.digest.split(':')),
    );
    t.equal(index.annotations?.[TITLE], 'split-test', 'the index annotation is there');
    t.equal(ocikit(d, ['verify', 'r1'], root).code, 0, 'the output verifies');
    // The daemon survived: a second build right after succeeds.
    const again = reproduction(d, root, 'r2');
    t.equal(again.code, 0, tail(again.stderr + again.stdout));
  });

  // On the affected daemon the one-pass path crashes it (split-serial.ts proves that, alone):
  // there `auto` (which splits) is compared with `always`, elsewhere one pass with a split.
  const first = affected ? 'auto' : 'one pass';
  t.test(
    `${first} and --split-platforms always give the same per-platform manifests`,
    async (t) => {
      const root = workspace(t);
      const viaAuto = reproduction(d, root, 'one');
      t.equal(viaAuto.code, 0, tail(viaAuto.stderr));
      t.match(JSON.parse(viaAuto.stdout), { split: { split: affected } });
      const split = reproduction(d, root, 'split', ['--split-platforms', 'always']);
      t.equal(split.code, 0, tail(split.stderr));
      t.match(JSON.parse(split.stdout), { split: { split: true } });
      t.same(manifests(path.join(root, 'split')), manifests(path.join(root, 'one')));
    },
  );
}
