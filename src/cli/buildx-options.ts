/** What `context`, `buildx-args` and `build` share: the buildx version and --max-bytes (options: spec.ts). */
import { ErrorCode, OcikitError } from '../errors.js';
import { parseByteSize } from './byte-size.js';
import { parseBuildxVersion, type BuildxVersion } from '../buildx/compat.js';
import { detectBuildxVersion, dockerToSpawn } from '../buildx/detect.js';
import type { Mode } from '../ops/context.js';
import type { OutputSet } from '../output/outputs.js';
import type { CliIo } from './io.js';

export interface BuildxArgs {
  out?: string;
  'max-bytes'?: string | string[];
  mode: Mode;
  'buildx-version': string;
  docker: string;
}

/** `--hermetic` and `--unused-context`, for `buildx-args` and `build` (options: spec.ts). */
export interface HermeticArgs {
  hermetic: boolean;
  'unused-context': 'warn' | 'error';
}

/**
 * The buildx version to plan for, asking docker when `auto` (killed when `outputs` is
 * interrupted: a cancelled request). Warns on stderr when unknown.
 */
export async function buildxVersionFromArgs(
  io: CliIo,
  args: BuildxArgs,
  outputs?: OutputSet,
): Promise<BuildxVersion | undefined> {
  const v = args['buildx-version'];
  if (v === 'unknown') return undefined;
  if (v !== 'auto') return parseBuildxVersion(v);
  const detected = await detectBuildxVersion(
    dockerToSpawn(args.docker, io.cwd),
    { ...io.env } as NodeJS.ProcessEnv,
    undefined,
    { cwd: io.cwd, ...(outputs !== undefined ? { signal: outputs.signal } : {}) },
  );
  if (detected.version === undefined) {
    io.stderr(
      `ocikit: warning OCIKIT_W_BUILDX_UNKNOWN: buildx version unknown (${detected.reason}); planning for every write\n`,
    );
  }
  return detected.version;
}

/** `--max-bytes` as a number of bytes (once at most), or undefined. */
export function maxBytesFromArgs(args: { 'max-bytes'?: string | string[] }): number | undefined {
  const v = args['max-bytes'];
  if (Array.isArray(v))
    throw new OcikitError(ErrorCode.Usage, '--max-bytes is given more than once', {
      hint: 'Pass one --max-bytes.',
    });
  return v === undefined ? undefined : parseByteSize(v, '--max-bytes');
}
