/** Asking the installed buildx for its version (`docker buildx version`). */
import { spawn } from 'node:child_process';
import { parseBuildxVersion, type BuildxVersion } from './compat.js';

/** The outcome: a version, or why none was found (then the compatibility model assumes the worst). */
export type Detected = { version: BuildxVersion } | { version: undefined; reason: string };

/**
 * Run `<docker> buildx version` and parse it. Never throws.
 * @param docker the docker CLI to run. Default `docker` (from PATH).
 */
export async function detectBuildxVersion(
  docker = 'docker',
  env: NodeJS.ProcessEnv = process.env,
  timeoutMs = 15000,
): Promise<Detected> {
  return new Promise((resolve) => {
    let out = '';
    let err = '';
    const child = spawn(docker, ['buildx', 'version'], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: timeoutMs,
    });
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', (e) =>
      resolve({ version: undefined, reason: `${docker} buildx version: ${e.message}` }),
    );
    child.on('close', (code) => {
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
    });
  });
}
