/**
 * Issue 11 items 1 and 2 against a real buildx, for the suite named by OCIKIT_E2E_SUITE
 * (test/e2e/run.sh runs this file once per suite: trixie buildx 0.13.1 / dockerd 26.1.5, forky
 * buildx 0.29.1 / dockerd 28.5.2):
 *   - `--hermetic` refuses `FROM base` with the context named `basee` (OCIKIT_FROM_UNRESOLVED)
 *     in `build` and `buildx-args` before docker is run at all (a docker wrapper records every
 *     call), and with the context named right the same build runs;
 *   - `build --source-date-epoch 0`: buildx's builder is asked for rewrite-timestamp, the layer
 *     is annotated as rewritten, and two builds with BuildKit's cache pruned and the context file
 *     touched between give the same bytes; the control (the same without rewrite-timestamp,
 *     plain buildx) does not.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { standardLayout } from '../helpers/layout-builder.js';
import { privateTestdir } from '../helpers/tools.js';
import { run, tail, type Ran } from './helpers/exec.js';
import { indexEntries, readJson, type Desc } from './helpers/oci.js';
import { ocikitAs, withSuite, type SuiteDaemon } from './helpers/suite.js';

withSuite(t, main);
const ocikit = ocikitAs;

/** A docker that logs each call to `log`, then runs the suite's docker. */
function recordingDocker(d: SuiteDaemon, dir: string, log: string): string {
  const file = path.join(dir, 'docker-recording');
  writeFileSync(
    file,
    `#!/bin/bash\nprintf '%s\\n' "$*" >>'${log}'\nexec '${path.join(d.state, 'bin', 'docker')}' "$@"\n`,
  );
  chmodSync(file, 0o755);
  return file;
}

/** Every blob of a layout's image, as the files of its first manifest name them. */
function manifestOf(dir: string): { layers: Desc[]; config: Desc } {
  const entry = indexEntries(dir)[0] as Desc;
  return readJson(path.join(dir, 'blobs', ...entry.digest.split(':')));
}

function main(d: SuiteDaemon): void {
  t.comment(`suite ${d.suite}`);

  t.test(
    '--hermetic: FROM base with the context named basee is refused before docker runs',
    async (t) => {
      const root = privateTestdir(t);
      standardLayout(path.join(root, 'base'));
      mkdirSync(path.join(root, 'app'));
      writeFileSync(path.join(root, 'app', 'Dockerfile'), 'FROM base\nCOPY added.txt /added.txt\n');
      writeFileSync(path.join(root, 'app', 'added.txt'), 'added\n');
      const log = path.join(root, 'docker-calls.log');
      const docker = recordingDocker(d, root, log);
      const common = [
        '--docker',
        docker,
        '--buildx-version',
        d.suite === 'trixie' ? '0.13.1' : '0.29.1',
      ];

      /** `ocikit build --hermetic` with the base layout as context NAME. */
      const build = (name: string, extra: string[] = []): Ran =>
        ocikit(
          d,
          [
            'build',
            '--hermetic',
            ...extra,
            ...common,
            '--build-context',
            `${name}=base:single`,
            '--provenance=false',
            '--out',
            'out',
            '--json',
            'app',
          ],
          root,
        );
      const refused = build('basee');
      t.equal(refused.code, 1, tail(refused.stderr));
      const e = (JSON.parse(refused.stdout) as { error: { code: string; message: string } }).error;
      t.equal(e.code, 'OCIKIT_FROM_UNRESOLVED');
      t.match(
        e.message,
        /FROM base \(line 1, stage stage-0\) pulls docker\.io\/library\/base:latest \(did you mean the context "basee"\?\)/,
      );
      const args = ocikit(
        d,
        [
          'buildx-args',
          '--hermetic',
          ...common,
          '--build-context',
          'basee=base:single',
          '--out',
          'ctx',
          'app',
        ],
        root,
      );
      t.equal(args.code, 1);
      t.match(args.stderr, /OCIKIT_FROM_UNRESOLVED/);
      t.notOk(existsSync(log), 'docker was never run (no buildx inspect, no build)');
      t.notOk(
        existsSync(path.join(root, 'out')) || existsSync(path.join(root, 'ctx')),
        'nothing written',
      );

      const good = build('base', ['--unused-context', 'error']);
      t.equal(good.code, 0, tail(good.stderr));
      t.same((JSON.parse(good.stdout) as { pulls: unknown[] }).pulls, [], 'nothing pulled');
      t.match(readFileSync(log, 'utf8'), /buildx build/, 'then buildx ran');
    },
  );

  t.test(
    '--source-date-epoch: rewrite-timestamp on the real builder, the same bytes twice',
    async (t) => {
      const root = privateTestdir(t);
      mkdirSync(path.join(root, 'app'));
      writeFileSync(path.join(root, 'app', 'Dockerfile'), 'FROM scratch\nCOPY a.txt /a.txt\n');
      writeFileSync(path.join(root, 'app', 'a.txt'), 'a\n');
      const docker = path.join(d.state, 'bin', 'docker');
      const prune = (): void => {
        const p = run([docker, 'buildx', 'prune', '-af'], { env: d.env });
        t.equal(p.code, 0, `buildx prune: ${tail(p.stderr)}`);
      };
      /** A fresh build: BuildKit's cache pruned, the context file written again (new mtime). */
      const fresh = (i: number): void => {
        prune();
        const now = Date.now() / 1000 + i;
        utimesSync(path.join(root, 'app', 'a.txt'), now, now);
      };
      const bytes = (dir: string): string =>
        readFileSync(path.join(root, dir, 'index.json'), 'utf8') +
        JSON.stringify(manifestOf(path.join(root, dir)));

      const outs: string[] = [];
      for (const i of [1, 2]) {
        fresh(i);
        const r = ocikit(
          d,
          [
            'build',
            '--source-date-epoch',
            '0',
            '--provenance=false',
            '--out',
            `out-${i}`,
            '--json',
            'app',
          ],
          root,
        );
        t.equal(r.code, 0, tail(r.stderr));
        t.match(JSON.parse(r.stdout), {
          reproducible: {
            sourceDateEpoch: '0',
            from: 'option',
            rewriteTimestamp: true,
            supported: true,
          },
        });
        outs.push(bytes(`out-${i}`));
      }
      t.equal(
        outs[0],
        outs[1],
        'two builds, cache pruned and context touched between: the same bytes',
      );
      const m = manifestOf(path.join(root, 'out-1'));
      t.equal(
        m.layers[0]?.annotations?.['buildkit/rewritten-timestamp'],
        '0',
        'the layer was rewritten',
      );
      t.equal(
        readJson<{ created: string }>(
          path.join(root, 'out-1', 'blobs', ...m.config.digest.split(':')),
        ).created,
        '1970-01-01T00:00:00Z',
      );

      // The control: the same epoch without rewrite-timestamp (buildx by hand) is not reproducible.
      const control: string[] = [];
      for (const i of [3, 4]) {
        fresh(i);
        const r = run(
          [
            docker,
            'buildx',
            'build',
            '-q',
            '--provenance=false',
            '--build-arg',
            'SOURCE_DATE_EPOCH=0',
            '--output',
            `type=oci,dest=${path.join(root, `plain-${i}`)},tar=false`,
            path.join(root, 'app'),
          ],
          { env: d.env, cwd: root },
        );
        t.equal(r.code, 0, tail(r.stderr));
        control.push(bytes(`plain-${i}`));
      }
      t.not(
        control[0],
        control[1],
        'control: without rewrite-timestamp the layer follows the file times',
      );
    },
  );
}
