/**
 * The BuildKit OCI exporter crash itself (PROBLEMS §2), on the affected suite only, run alone
 * (test/e2e/run.sh runs *-serial.ts files after the others, one at a time): with
 * `--split-platforms=never` the trixie daemon dies and ocikit says OCIKIT_BUILDER_CRASHED;
 * the test then restarts the daemon (scripts/e2e/dockerd.sh) and proves it answers again.
 * On forky the same command builds.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { BUNDLE, ROOT } from '../helpers/cli.js';
import { standardLayout } from '../helpers/layout-builder.js';
import { privateTestdir } from '../helpers/tools.js';
import { run, tail } from './helpers/exec.js';
import { withSuite, type SuiteDaemon } from './helpers/suite.js';

withSuite(t, main);

function main(d: SuiteDaemon): void {
  t.test(`--split-platforms=never on ${d.suite}`, async (t) => {
    const root = privateTestdir(t);
    standardLayout(path.join(root, 'base'));
    mkdirSync(path.join(root, 'app'));
    writeFileSync(path.join(root, 'app', 'Dockerfile'), 'FROM base\n');
    const r = run(
      [
        process.execPath,
        BUNDLE,
        'build',
        '--build-context',
        'base=base:multi',
        '--platform',
        'linux/amd64,linux/arm64',
        '--provenance=false',
        '--split-platforms',
        'never',
        '--progress',
        'quiet',
        '--out',
        'r',
        '--json',
        'app',
      ],
      { env: { ...d.env, TMPDIR: '/tmp' }, cwd: root, timeoutMs: 300_000 },
    );
    const docker = (args: string[]) => run(['docker', ...args], { env: d.env, timeoutMs: 30_000 });
    if (d.suite === 'forky') {
      t.equal(r.code, 0, tail(r.stderr + r.stdout));
      return;
    }
    t.equal(r.code, 1, tail(r.stderr + r.stdout));
    const err = (JSON.parse(r.stdout) as { error: { code: string; hint: string } }).error;
    t.equal(err.code, 'OCIKIT_BUILDER_CRASHED', tail(r.stdout));
    t.match(err.hint, /--split-platforms/);
    t.comment(`OBSERVED suite=${d.suite} split-platforms=never: ${err.code}`);
    // Restart the daemon for whatever runs next, and prove it answers.
    const script = path.join(ROOT, 'scripts', 'e2e', 'dockerd.sh');
    run(['bash', script, 'stop', d.state], {
      env: { PATH: process.env['PATH'] },
      timeoutMs: 120_000,
    });
    const start = run(['bash', script, 'start', d.suite, d.state], {
      env: { PATH: process.env['PATH'] },
      timeoutMs: 180_000,
    });
    t.equal(start.code, 0, tail(start.stderr));
    t.equal(
      docker(['version', '--format', '{{.Server.Version}}']).code,
      0,
      'the daemon answers again',
    );
  });
}
