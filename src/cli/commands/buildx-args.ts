/** `ocikit buildx-args [docker buildx build flags] CONTEXT_DIR`: the complete, safe invocation. */
import { promises as fsp, readFileSync } from 'node:fs';
import path from 'node:path';
import {
  buildInputs,
  buildxInvocation,
  shellQuote,
  type InvocationOptions,
} from '../../ops/buildx-args.js';
import { dockerToSpawn } from '../../buildx/detect.js';
import { preflight } from '../../buildx/preflight.js';
import {
  flagsFromConfig,
  mergeFlags,
  parseBuildArgs,
  type BuildFlags,
} from '../../buildx/flags.js';
import { ErrorCode, OcikitError, errnoCode } from '../../errors.js';
import { checkBuildxPlatform } from '../../layout/known-platforms.js';
import {
  buildxVersionFromArgs,
  maxBytesFromArgs,
  type BuildxArgs,
  type HermeticArgs,
} from '../buildx-options.js';
import { pullSummary } from '../../ops/dockerfile-check.js';
import { outputPath, refInputs, type GlobalArgs } from '../common.js';
import type { InputPath, OutputSet } from '../../output/outputs.js';
import type { CliIo } from '../io.js';
import { printStrategies, printWarnings, stableJson } from '../output.js';

type Format = 'json' | 'lines' | 'shell';
type ArgsArgs = BuildxArgs &
  HermeticArgs & {
    args: string[];
    config?: string;
    format: Format;
    'args-file'?: string;
    'rewrite-timestamp': boolean;
    preflight: boolean;
    verify: boolean;
  };

/** Render argv in one of the output formats. */
export function formatArgv(argv: readonly string[], format: Format): string {
  if (format === 'lines') {
    const bad = argv.find((a) => a.includes('\n'));
    if (bad !== undefined) {
      throw new OcikitError(
        ErrorCode.Usage,
        `argument ${JSON.stringify(bad)} contains a newline; it cannot be written one per line`,
        { hint: 'Use --format json.' },
      );
    }
    return argv.map((a) => `${a}\n`).join('');
  }
  if (format === 'shell') return `${argv.map(shellQuote).join(' ')}\n`;
  return `${JSON.stringify(argv)}\n`;
}

/**
 * Flags from --config (if any) then the command line (which wins), `--platform` values checked
 * against the known platforms unless `--allow-unknown-platforms`.
 * @throws OcikitError `OCIKIT_CONFIG_INVALID`, `OCIKIT_USAGE`, `OCIKIT_PLATFORM_UNKNOWN`, ...
 */
export async function readBuildFlags(
  io: CliIo,
  args: { args?: string[]; config?: string; 'allow-unknown-platforms'?: boolean },
  outputs: OutputSet,
): Promise<{ flags: BuildFlags; contextDir?: string }> {
  const read = await readFlags(io, args, outputs);
  const allowUnknown = args['allow-unknown-platforms'] === true;
  for (const p of read.flags.platform ?? []) checkBuildxPlatform(p, { allowUnknown });
  return read;
}

async function readFlags(
  io: CliIo,
  args: { args?: string[]; config?: string },
  outputs: OutputSet,
): Promise<{ flags: BuildFlags; contextDir?: string }> {
  const cli = parseBuildArgs(args.args ?? []);
  if (args.config === undefined) return cli;
  const file = path.resolve(io.cwd, args.config);
  await outputs.addInputs([{ path: file, label: `--config file ${args.config}` }]);
  let config: unknown;
  try {
    config = JSON.parse(await fsp.readFile(file, 'utf8'));
  } catch (e) {
    throw new OcikitError(
      ErrorCode.ConfigInvalid,
      `--config ${args.config}: ${errnoCode(e) ?? (e as Error).message}`,
      {
        hint: 'The config must be a readable JSON object.',
      },
    );
  }
  const fromConfig = flagsFromConfig(config, `--config ${args.config}`);
  const out: { flags: BuildFlags; contextDir?: string } = {
    flags: mergeFlags(fromConfig.flags, cli.flags),
  };
  const contextDir = cli.contextDir ?? fromConfig.contextDir;
  if (contextDir !== undefined) out.contextDir = contextDir;
  return out;
}

/**
 * What buildx-args and build read: layouts of contexts, the context directory, the Dockerfile,
 * --config, and the contexts, directory and Dockerfile that --config names (all of them known
 * before any output is opened; a config that cannot be read is reported by readBuildFlags).
 */
export function inputs(io: CliIo, args: { args?: string[]; config?: string }): InputPath[] {
  let { flags, contextDir } = parseBuildArgs(args.args ?? []);
  if (args.config !== undefined) {
    try {
      const text = readFileSync(path.resolve(io.cwd, args.config), 'utf8');
      const fromConfig = flagsFromConfig(JSON.parse(text), `--config ${args.config}`);
      flags = mergeFlags(fromConfig.flags, flags);
      contextDir ??= fromConfig.contextDir;
    } catch {
      // not readable or not valid: readBuildFlags reports it
    }
  }
  const out: InputPath[] = [];
  for (const c of flags.buildContext ?? []) {
    const eq = c.indexOf('=');
    const value = c.slice(eq + 1);
    if (eq > 0 && (value.startsWith('oci-layout://') || !/^[a-z][a-z0-9+.-]*:\/\//.test(value)))
      out.push(...refInputs(io, value, `layout of context ${c.slice(0, eq)}`));
  }
  out.push(...buildInputs(flags, contextDir, io.cwd));
  if (args.config !== undefined)
    out.push({ path: path.resolve(io.cwd, args.config), label: `--config file ${args.config}` });
  return out;
}

export async function handler(
  io: CliIo,
  args: GlobalArgs & ArgsArgs,
  outputs: OutputSet,
): Promise<number> {
  const argsFile = args['args-file'];
  if (argsFile !== undefined) await outputs.file('--args-file', outputPath(io, argsFile));
  const { flags, contextDir } = await readBuildFlags(io, args, outputs);
  const options: InvocationOptions = {
    cwd: io.cwd,
    mode: args.mode,
    strict: args.strict,
    verify: args.verify,
    docker: args.docker,
    outputs,
    hermetic: args.hermetic,
    unusedContexts: args['unused-context'],
    env: { ...io.env } as NodeJS.ProcessEnv,
    rewriteTimestamp: args['rewrite-timestamp'],
  };
  const maxBytes = maxBytesFromArgs(args);
  if (maxBytes !== undefined) options.maxBytes = maxBytes;
  const buildx = await buildxVersionFromArgs(io, args, outputs);
  if (buildx !== undefined) options.buildx = buildx;
  if (args.out !== undefined) options.out = outputPath(io, args.out);
  if (args.preflight)
    await preflight(dockerToSpawn(args.docker, io.cwd), flags.builder, {
      ...io.env,
    } as NodeJS.ProcessEnv);
  const inv = await buildxInvocation(flags, contextDir, options);
  // --args-file always holds the argv (in --format); --json is the summary on stdout (or in
  // --json-out), with or without --args-file.
  const argvText = formatArgv(inv.argv, args.format);
  if (argsFile !== undefined) await outputs.writeFile('--args-file', argsFile, argvText);
  if (args.json) {
    io.stdout(
      stableJson({
        argv: inv.argv,
        contexts: inv.prepared.contexts,
        buildx: inv.prepared.buildx,
        warnings: inv.warnings,
        ...(inv.dockerfile?.sources !== undefined
          ? { pulls: pullSummary(inv.dockerfile.sources) }
          : {}),
      }),
    );
    return 0;
  }
  printWarnings(io, inv.warnings);
  printStrategies(io, inv.prepared.contexts);
  if (argsFile === undefined) io.stdout(argvText);
  return 0;
}
