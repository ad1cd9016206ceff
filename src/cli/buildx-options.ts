/** Options shared by `context`, `buildx-args` and `build`: --out, --mode, --buildx-version, --docker. */
import type { Argv } from 'yargs';
import { ErrorCode, OcikitError } from '../errors.js';
import { parseByteSize } from './byte-size.js';
import { parseBuildxVersion, type BuildxVersion } from '../buildx/compat.js';
import { detectBuildxVersion } from '../buildx/detect.js';
import type { Mode } from '../ops/context.js';
import type { CliIo } from './io.js';

export interface BuildxArgs {
  out?: string;
  'max-bytes'?: string | string[];
  mode: Mode;
  'buildx-version': string;
  docker: string;
}

export function buildxOptions<T>(y: Argv<T>): Argv<T & BuildxArgs> {
  return y
    .option('out', {
      type: 'string',
      describe: 'Directory for thin copies (new or empty); written atomically',
    })
    .option('mode', {
      choices: ['auto', 'in-place', 'thin'] as const,
      default: 'auto' as Mode,
      describe: 'Use layouts in place when safe (auto), always, or always copy thinly',
    })
    .option('buildx-version', {
      type: 'string',
      default: 'auto',
      describe:
        'buildx version whose behaviour to plan for: auto (ask docker buildx version), unknown (assume every write), or e.g. 0.29.1',
    })
    .option('max-bytes', {
      type: 'string',
      describe:
        'Largest size an archive context (FILE.tar) may expand to: bytes or K/M/G/T (default 64G)',
    })
    .option('docker', {
      type: 'string',
      default: 'docker',
      describe: 'docker CLI to run (and argv[0] of the invocation)',
    }) as Argv<T & BuildxArgs>;
}

/**
 * `--verify`: also hash every blob of the base images before buildx runs (without it they are
 * checked for presence, kind and size only). For `context`, `buildx-args` and `build`.
 */
export function verifyOption<T>(y: Argv<T>): Argv<T & { verify: boolean }> {
  return y.option('verify', {
    type: 'boolean',
    default: false,
    describe:
      'Also hash every blob of the base images before buildx runs (always checked: present, a file, the declared size)',
  }) as Argv<T & { verify: boolean }>;
}

/** `--hermetic` and `--unused-context`, for `buildx-args` and `build`. */
export interface HermeticArgs {
  hermetic: boolean;
  'unused-context': 'warn' | 'error';
}

/**
 * `--hermetic`: refuse a Dockerfile that makes the build pull an image from a registry (every
 * FROM, COPY --from, RUN --mount=from= and `# syntax=` image must be a stage, `scratch` or a
 * build context); `--unused-context`: what a context the Dockerfile never names is.
 */
export function hermeticOptions<T>(y: Argv<T>): Argv<T & HermeticArgs> {
  return y
    .option('hermetic', {
      type: 'boolean',
      default: false,
      describe:
        'Refuse (OCIKIT_FROM_UNRESOLVED) a Dockerfile whose FROM, COPY --from, RUN --mount=from= or # syntax= image is neither a stage, scratch, nor a --build-context: it would be pulled',
    })
    .option('unused-context', {
      choices: ['warn', 'error'] as const,
      default: 'warn' as const,
      describe:
        'A --build-context the Dockerfile never names: a warning, or an error (OCIKIT_CONTEXT_UNUSED)',
    }) as Argv<T & HermeticArgs>;
}

/** The buildx version to plan for, asking docker when `auto`. Warns on stderr when unknown. */
export async function buildxVersionFromArgs(
  io: CliIo,
  args: BuildxArgs,
): Promise<BuildxVersion | undefined> {
  const v = args['buildx-version'];
  if (v === 'unknown') return undefined;
  if (v !== 'auto') return parseBuildxVersion(v);
  const detected = await detectBuildxVersion(args.docker, { ...io.env } as NodeJS.ProcessEnv);
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
