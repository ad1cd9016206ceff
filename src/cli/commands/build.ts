/** `ocikit build [docker buildx build flags] --out DIR|FILE.tar CONTEXT_DIR`. */
import type { Argv } from 'yargs';
import { build, type BuildOptions, type SplitMode } from '../../ops/build.js';
import { ErrorCode, OcikitError } from '../../errors.js';
import { buildProgress, type ProgressMode } from '../build-progress.js';
import {
  buildxOptions,
  buildxVersionFromArgs,
  hermeticOptions,
  maxBytesFromArgs,
  verifyOption,
  type BuildxArgs,
  type HermeticArgs,
} from '../buildx-options.js';
import { outputPath, type GlobalArgs } from '../common.js';
import type { OutputSet } from '../../output/outputs.js';
import type { CliIo } from '../io.js';
import { printWarnings, stableJson } from '../output.js';
import { readBuildFlags } from './buildx-args.js';
export { inputs } from './buildx-args.js';

type BuildArgs = BuildxArgs &
  HermeticArgs & {
    args: string[];
    'source-date-epoch'?: string;
    config?: string;
    'repair-annotations': boolean;
    preflight: boolean;
    'private-docker-config': 'auto' | 'always' | 'never';
    'split-platforms': SplitMode;
    verify: boolean;
  };

const PROGRESS: readonly ProgressMode[] = ['auto', 'tty', 'plain', 'quiet', 'json'];

export const command = 'build [args..]';
export const describe =
  'Run docker buildx build with safe contexts, read its whole stream, verify and publish the result';

export function builder<T>(y: Argv<T>): Argv<T & BuildArgs> {
  return hermeticOptions(verifyOption(buildxOptions(y)))
    .parserConfiguration({ 'unknown-options-as-args': true })
    .positional('args', {
      type: 'string',
      array: true,
      describe:
        'docker buildx build flags and the context directory (--progress auto|tty|plain|quiet|json chooses the display)',
    })
    .option('config', {
      type: 'string',
      describe: 'JSON file with build flags (as for buildx-args)',
    })
    .option('repair-annotations', {
      type: 'boolean',
      default: false,
      describe: 'Add requested index annotations that the builder dropped, instead of failing',
    })
    .option('preflight', {
      type: 'boolean',
      default: true,
      describe: 'Check the builder driver first (--no-preflight skips docker buildx inspect)',
    })
    .option('private-docker-config', {
      choices: ['auto', 'always', 'never'] as const,
      default: 'auto' as const,
      describe:
        'Give buildx a private copy of DOCKER_CONFIG (auto: when the current one is not writable, as in Bazel sandboxes)',
    })
    .option('source-date-epoch', {
      type: 'string',
      describe:
        'SOURCE_DATE_EPOCH of the build (seconds, e.g. 0): passed as that build argument, and the OCI output gets rewrite-timestamp=true where the builder supports it (BuildKit >= 0.13)',
    })
    .option('split-platforms', {
      choices: ['auto', 'always', 'never'] as const,
      default: 'auto' as const,
      describe:
        'Build a multi-platform image one platform at a time and merge (auto: on builders whose BuildKit crashes on an empty platform, when a platform may be empty)',
    })
    .example(
      '$0 build --build-context base=./layout:base --platform linux/amd64,linux/arm64 --out ./result .',
      'build on a read-only layout, result as an OCI layout',
    ) as unknown as Argv<T & BuildArgs>;
}

export async function handler(
  io: CliIo,
  args: GlobalArgs & BuildArgs,
  outputs: OutputSet,
): Promise<number> {
  const { flags, contextDir } = await readBuildFlags(io, args, outputs);
  if (args.out === undefined) {
    throw new OcikitError(
      ErrorCode.Usage,
      'ocikit build needs --out (the output layout directory, or FILE.tar)',
      { hint: 'For example --out ./result.' },
    );
  }
  const progress = (flags.progress ?? 'auto') as ProgressMode;
  if (!PROGRESS.includes(progress)) {
    throw new OcikitError(
      ErrorCode.Usage,
      `--progress ${flags.progress}: expected one of ${PROGRESS.join(', ')}`,
      { hint: 'ocikit always reads buildx as rawjson and shows it as you choose.' },
    );
  }
  delete flags.progress;
  const view = buildProgress(io, progress);
  const options: BuildOptions = {
    cwd: io.cwd,
    out: outputPath(io, args.out),
    mode: args.mode,
    strict: args.strict,
    verify: args.verify,
    docker: args.docker,
    env: { ...io.env } as NodeJS.ProcessEnv,
    repairAnnotations: args['repair-annotations'],
    privateDockerConfig: args['private-docker-config'],
    preflight: args.preflight,
    onEvent: view.onEvent,
    onNote: (text) => io.stderr(`ocikit: ${text}\n`),
    splitPlatforms: args['split-platforms'],
    outputs,
    hermetic: args.hermetic,
    unusedContexts: args['unused-context'],
  };
  const epoch = args['source-date-epoch'];
  if (Array.isArray(epoch))
    throw new OcikitError(ErrorCode.Usage, '--source-date-epoch is given more than once', {
      hint: 'Pass one --source-date-epoch.',
    });
  if (epoch !== undefined) options.sourceDateEpoch = epoch;
  const maxBytes = maxBytesFromArgs(args);
  if (maxBytes !== undefined) options.maxBytes = maxBytes;
  const buildx = await buildxVersionFromArgs(io, args);
  if (buildx !== undefined) options.buildx = buildx;
  try {
    const result = await build(flags, contextDir, options);
    view.finish();
    if (args.json) {
      io.stdout(stableJson({ ok: true, ...result, out: args.out }));
    } else {
      printWarnings(io, result.warnings);
      for (const r of result.annotations.repaired)
        io.stderr(`ocikit: repaired missing ${r.target} annotation ${r.key}=${r.value}\n`);
      io.stdout(`${result.digest}\n`);
    }
    return 0;
  } finally {
    view.finish();
  }
}
