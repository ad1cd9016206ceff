/**
 * Issue 11 item 1 against a real buildx, for the suite named by OCIKIT_E2E_SUITE, run alone
 * (test/e2e/run.sh runs *-serial.ts files after the others, one at a time: this one prunes
 * BuildKit's cache, which would pull content from under a build running beside it):
 * `build --source-date-epoch 0` asks the builder for rewrite-timestamp, the layer is annotated
 * as rewritten, and two builds with BuildKit's cache pruned and the context file touched between
 * give the same bytes; the control (the same epoch without rewrite-timestamp, plain buildx) does
 * not. Seen on trixie's dockerd 26.1.5 and forky's 28.5.2.
 */
import { mkdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { privateTestdir } from '../helpers/tools.js';
import { run, tail } from './helpers/exec.js';
import { indexEntries, readJson, type Desc } from './helpers/oci.js';
import { ocikitAs as ocikit, withSuite, type SuiteDaemon } from './helpers/suite.js';

withSuite(t, main);

/** The first manifest of a layout's index.json. */
function manifestOf(dir: string): { layers: Desc[]; config: Desc } {
  const entry = indexEntries(dir)[0] as Desc;
  return readJson(path.join(dir, 'blobs', ...entry.digest.split(':')));
}

function main(d: SuiteDaemon): void {
  t.comment(`suite ${d.suite}`);

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
