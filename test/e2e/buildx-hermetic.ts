/**
 * Issue 11 item 2 against a real buildx, for the suite named by OCIKIT_E2E_SUITE (test/e2e/run.sh
 * runs this file once per suite: trixie buildx 0.13.1 / dockerd 26.1.5, forky buildx 0.29.1 /
 * dockerd 28.5.2): `--hermetic` refuses `FROM base` with the context named `basee`
 * (OCIKIT_FROM_UNRESOLVED) in `build` and `buildx-args` before docker is run at all (a docker
 * wrapper records every call), and with the context named right the same build runs.
 * Item 1 (rewrite-timestamp, BuildKit's cache pruned): test/e2e/reproducible-serial.ts.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { standardLayout } from '../helpers/layout-builder.js';
import { privateTestdir } from '../helpers/tools.js';
import { tail, type Ran } from './helpers/exec.js';
import { ocikitAs as ocikit, withSuite, type SuiteDaemon } from './helpers/suite.js';

withSuite(t, main);

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
}
