/** Asking the installed buildx for its version (`docker buildx version`). */
import { parseBuildxVersion, type BuildxVersion } from './compat.js';

/** The outcome: a version, or why none was found (then the compatibility model assumes the worst). */
export type Detected = { version: BuildxVersion } | { version: undefined; reason: string };

/**
 * The docker CLI to spawn for a `--docker` value: a path (it holds a `/`) is relative to the
 * run's directory (a worker request's sandbox; this process may be elsewhere), a bare name is
 * looked up in PATH. Command lines shown to people keep the value as given.
 */
export function dockerToSpawn(docker: string, cwd: string): string {
  return docker.includes('/') ? process.getBuiltinModule('node:path').resolve(cwd, docker) : docker;
}

/** Where and how {@link detectBuildxVersion} runs docker. */
export interface DetectOptions {
  /** Working directory of the docker process. Default: this process's. */
  cwd?: string;
  /** Kills docker when aborted (a cancelled request): the version is then unknown. */
  signal?: AbortSignal;
}

/**
 * Run `<docker> buildx version` and parse it. Never throws. The answer is taken when docker
 * exits (a process it left behind holding the pipes does not keep the caller waiting), and a
 * timeout or an aborted signal kills it.
 * @param docker the docker CLI to run. Default `docker` (from PATH).
 */
export async function detectBuildxVersion(
  docker = 'docker',
  env: NodeJS.ProcessEnv = process.env,
  timeoutMs = 15000,
  options: DetectOptions = {},
): Promise<Detected> {
  return new Promise((resolve) => {
    let out = '';
    let err = '';
    // node:child_process (with net, dgram and streams) loads only when docker is run.
    const child = process
      .getBuiltinModule('node:child_process')
      .spawn(docker, ['buildx', 'version'], {
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
        timeout: timeoutMs,
        ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
        ...(options.signal !== undefined ? { signal: options.signal } : {}),
      });
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', (e) =>
      resolve({ version: undefined, reason: `${docker} buildx version: ${e.message}` }),
    );
    const answer = (code: number | null): void => {
      if (code !== 0) {
        resolve({
          version: undefined,
          reason: `${docker} buildx version exited ${code}: ${err.trim().split('\n').pop() ?? ''}`,
        });
        return;
      }
      try {
        resolve({ version: parseBuildxVersion(out) });
      } catch {
        resolve({ version: undefined, reason: `cannot read a version from: ${out.trim()}` });
      }
    };
    child.on('close', answer);
    // What docker printed is read by the time its pipes close; a child it left running may
    // hold them open: once docker itself has exited, wait a moment, then stop reading (the
    // pipes close, and with them the process: 'close' answers).
    child.on('exit', () => {
      setTimeout(() => {
        child.stdout.destroy();
        child.stderr.destroy();
      }, 200).unref();
    });
  });
}
