/**
 * The buildx suite a run of the e2e tests is for: which Debian suite (trixie: buildx 0.13.1,
 * forky: buildx 0.29.1) and the environment of its running daemon (scripts/e2e/dockerd.sh
 * writes STATE_DIR/env; test/e2e/run.sh exports OCIKIT_E2E_SUITE and OCIKIT_E2E_STATE).
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { BUNDLE } from '../../helpers/cli.js';
import { NOBODY } from '../../helpers/tools.js';
import { run, type Ran } from './exec.js';

export type Suite = 'trixie' | 'forky';
export const SUITES: readonly Suite[] = ['trixie', 'forky'];

/** A running daemon of one suite, as the tests talk to it. */
export interface SuiteDaemon {
  suite: Suite;
  /** STATE_DIR of dockerd.sh. */
  state: string;
  /** The environment after `source STATE_DIR/env` (root client: PATH, DOCKER_CONFIG, ...). */
  env: NodeJS.ProcessEnv;
  /** The daemon's unix socket. */
  sock: string;
  /** The socket's group (a non-root client needs it). */
  sockGid: number;
}

/** The daemon named by OCIKIT_E2E_SUITE / OCIKIT_E2E_STATE, or why there is none. */
export function loadSuite(): SuiteDaemon | { problem: string } {
  const suite = process.env['OCIKIT_E2E_SUITE'] ?? '';
  const state = process.env['OCIKIT_E2E_STATE'] ?? '';
  if (!SUITES.includes(suite as Suite)) {
    return {
      problem: `OCIKIT_E2E_SUITE is ${JSON.stringify(suite)}, not trixie or forky (run test/e2e/run.sh, which starts the daemons)`,
    };
  }
  return daemonAt(suite as Suite, state);
}

/** The daemon dockerd.sh started with STATE_DIR `state` for `suite`, or why there is none. */
export function daemonAt(suite: Suite, state: string): SuiteDaemon | { problem: string } {
  const envFile = path.join(state, 'env');
  if (state === '' || !existsSync(envFile)) {
    return {
      problem: `OCIKIT_E2E_STATE=${JSON.stringify(state)} has no env file (scripts/e2e/dockerd.sh start ${suite} STATE_DIR)`,
    };
  }
  // The env file is shell (printf %q quoting, "$PATH"): let bash read it, print the result.
  const r = spawnSync('bash', ['-c', 'set -e; source "$1"; env -0', 'env', envFile], {
    encoding: 'utf8',
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: process.env['HOME'] ?? '/root' },
  });
  if (r.status !== 0) return { problem: `cannot source ${envFile}: ${r.stderr}` };
  const env: NodeJS.ProcessEnv = {};
  for (const entry of r.stdout.split('\0')) {
    const eq = entry.indexOf('=');
    if (eq > 0) env[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  for (const k of ['PWD', 'OLDPWD', 'SHLVL', '_']) delete env[k];
  const sock = env['OCIKIT_DOCKER_SOCK'];
  const gid = Number(env['OCIKIT_DOCKER_SOCK_GID']);
  if (sock === undefined || !Number.isInteger(gid))
    return { problem: `${envFile} lacks OCIKIT_DOCKER_SOCK / OCIKIT_DOCKER_SOCK_GID` };
  if (env['OCIKIT_BUILDX_SUITE'] !== suite) {
    return {
      problem: `${envFile} is for ${env['OCIKIT_BUILDX_SUITE']}, but OCIKIT_E2E_SUITE=${suite}`,
    };
  }
  return { suite, state, env, sock, sockGid: gid };
}

/**
 * A client environment for uid {@link NOBODY}: its own writable DOCKER_CONFIG under `home`
 * (buildx writes state there on every build) holding the suite's buildx plugin, the daemon
 * socket as DOCKER_HOST, and the suite's docker first on PATH. `home` is created, owned by
 * nobody.
 */
export function nobodyClientEnv(d: SuiteDaemon, home: string): NodeJS.ProcessEnv {
  const config = path.join(home, '.docker');
  mkdirSync(path.join(config, 'cli-plugins'), { recursive: true });
  const plugin = path.join(config, 'cli-plugins', 'docker-buildx');
  copyFileSync(path.join(d.env['DOCKER_CONFIG'] ?? '', 'cli-plugins', 'docker-buildx'), plugin);
  chmodSync(plugin, 0o755);
  for (const p of [home, config, path.join(config, 'cli-plugins'), plugin])
    chownSync(p, NOBODY, NOBODY);
  return {
    PATH: d.env['PATH'],
    HOME: home,
    DOCKER_CONFIG: config,
    DOCKER_HOST: `unix://${d.sock}`,
  };
}

/** `setpriv` arguments that run a command as {@link NOBODY} with the docker socket's group. */
export function asNobodyWithDocker(d: SuiteDaemon): string[] {
  return ['setpriv', `--reuid=${NOBODY}`, `--regid=${NOBODY}`, `--groups=${d.sockGid}`];
}

/**
 * Run `main` with the suite's daemon, or report the missing prerequisite: a failure under
 * CI=true, a skip with the reason elsewhere.
 */
export function withSuite(
  tap: { fail: (m: string) => void; plan: (n: number, m: string) => void },
  main: (d: SuiteDaemon) => void,
): void {
  const loaded = loadSuite();
  if (!('problem' in loaded)) return main(loaded);
  const why = `missing prerequisite "buildx daemon": ${loaded.problem}`;
  if (/^(true|1)$/i.test(process.env['CI'] ?? ''))
    tap.fail(`${why}. CI=true: a missing prerequisite is a failure.`);
  else tap.plan(0, why);
}

/** The bundled ocikit run as the suite's root client (its environment, TMPDIR kept), 5 min at most. */
export function ocikitAs(d: SuiteDaemon, args: string[], cwd: string): Ran {
  return run([process.execPath, BUNDLE, ...args], {
    env: { ...d.env, TMPDIR: d.env['TMPDIR'] ?? '/tmp' },
    cwd,
    timeoutMs: 300_000,
  });
}
