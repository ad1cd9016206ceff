/** `ocikit build [docker buildx build flags] --out DIR|FILE.tar CONTEXT_DIR`. */
import { build, type BuildOptions, type SplitMode } from '../../ops/build.js';
import { ErrorCode, OcikitError } from '../../errors.js';
import { buildProgress, type ProgressMode } from '../build-progress.js';
import {
  buildxVersionFromArgs,
  maxBytesFromArgs,
  type BuildxArgs,
  type HermeticArgs,
} from '../buildx-options.js';
import { outputPath, type GlobalArgs } from '../common.js';
import type { OutputSet } from '../../output/outputs.js';
import type { CliIo } from '../io.js';
import { printWarnings, stableJson } from '../output.js';
import { inputs as buildxArgsInputs, readBuildFlags } from './buildx-args.js';
import { endpointInputs, type DaemonEndpoint, type DaemonTls } from '../../buildx/endpoint.js';
import type { InputPath } from '../../output/outputs.js';

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
    'docker-host'?: string;
    tlscacert?: string;
    tlscert?: string;
    tlskey?: string;
  };

const PROGRESS: readonly ProgressMode[] = ['auto', 'tty', 'plain', 'quiet', 'json'];

/** The TLS flags: how many were given, and the material when all three were. */
function tlsFromArgs(args: BuildArgs): { given: number; tls?: DaemonTls } {
  const { tlscacert: ca, tlscert: cert, tlskey: key } = args;
  const given = [ca, cert, key].filter((v) => v !== undefined).length;
  return ca !== undefined && cert !== undefined && key !== undefined
    ? { given, tls: { ca, cert, key } }
    : { given };
}

/** `--docker-host` and the TLS flags: all three TLS files or none. */
function endpointFromArgs(args: BuildArgs): DaemonEndpoint {
  const endpoint: DaemonEndpoint = {};
  if (args['docker-host'] !== undefined) endpoint.host = args['docker-host'];
  const { given, tls } = tlsFromArgs(args);
  if (given > 0 && tls === undefined) {
    throw new OcikitError(
      ErrorCode.Usage,
      "--tlscacert, --tlscert and --tlskey go together (the daemon verifies the client's certificate, the client the daemon's)",
      { hint: 'Pass all three PEM files, or none.' },
    );
  }
  if (tls !== undefined) endpoint.tls = tls;
  return endpoint;
}

/** The build's inputs for the output guard: those of buildx-args, and the TLS files. */
export function inputs(io: CliIo, args: GlobalArgs & BuildArgs): InputPath[] {
  const { tls } = tlsFromArgs(args);
  return [
    ...buildxArgsInputs(io, args),
    ...endpointInputs(tls === undefined ? {} : { tls }, io.cwd),
  ];
}

export async function handler(
  io: CliIo,
  args: GlobalArgs & BuildArgs,
  outputs: OutputSet,
): Promise<number> {
  const endpoint = endpointFromArgs(args);
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
    endpoint,
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
  const buildx = await buildxVersionFromArgs(io, args, outputs);
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
