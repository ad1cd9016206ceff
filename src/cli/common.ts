/** Options shared by the layout commands, and opening a layout from CLI arguments. */
import path from 'node:path';
import type { Argv } from 'yargs';
import { ErrorCode, OcikitError } from '../errors.js';
import { openLayout, type Layout } from '../layout/layout.js';
import type { ResolveOptions } from '../layout/resolve.js';
import type { InputPath, OutputSet } from '../output/outputs.js';
import { refCandidates } from '../layout/reference.js';
import { checkKnownPlatform } from '../layout/known-platforms.js';
import type { CliIo } from './io.js';

export interface GlobalArgs {
  json: boolean;
  strict: boolean;
  'allow-unknown-platforms': boolean;
}

export interface SelectionArgs {
  tag?: string;
  digest?: string;
  platform?: string;
}

/** `--tag`, `--digest`, `--platform`. */
export function selectionOptions<T>(y: Argv<T>): Argv<T & SelectionArgs> {
  return y
    .option('tag', {
      type: 'string',
      describe: 'Tag to resolve, matched as buildx does (default: latest, or the only manifest)',
    })
    .option('digest', {
      type: 'string',
      describe: 'Digest to select (wins over --tag, as in buildx)',
    })
    .option('platform', {
      type: 'string',
      describe: 'Select one platform from an index: os/arch[/variant]',
    }) as Argv<T & SelectionArgs>;
}

/**
 * The ResolveOptions the selection flags ask for.
 * @throws OcikitError `OCIKIT_PLATFORM_INVALID`, `OCIKIT_PLATFORM_UNKNOWN` (see {@link knownPlatformArg})
 */
export function selection(
  args: SelectionArgs & { 'allow-unknown-platforms'?: boolean },
): ResolveOptions {
  const out: ResolveOptions = {};
  if (args.tag !== undefined) out.tag = args.tag;
  if (args.digest !== undefined) out.digest = args.digest;
  if (args.platform !== undefined) out.platform = knownPlatformArg(args.platform, args);
  return out;
}

/**
 * A `--platform` value checked against the known os/arch/variant values, unless
 * `--allow-unknown-platforms`.
 * @throws OcikitError `OCIKIT_PLATFORM_INVALID`, `OCIKIT_PLATFORM_UNKNOWN`
 */
export function knownPlatformArg(
  value: string,
  args: { 'allow-unknown-platforms'?: boolean },
): string {
  checkKnownPlatform(value, { allowUnknown: args['allow-unknown-platforms'] === true });
  return value;
}

/**
 * Open the layout named on the command line (relative to the CLI's cwd), after adding it to
 * the run's inputs (so every output is checked against it before any work).
 */
export async function openFromArgs(
  io: CliIo,
  dir: unknown,
  args: GlobalArgs,
  outputs: OutputSet,
): Promise<Layout> {
  if (typeof dir !== 'string' || dir === '') {
    throw new OcikitError(ErrorCode.Usage, 'a layout directory is required', {
      hint: 'Pass the directory that holds oci-layout and index.json.',
    });
  }
  await outputs.addInputs([{ path: path.resolve(io.cwd, dir), label: `layout ${dir}` }]);
  return openLayout(path.resolve(io.cwd, dir), { strict: args.strict, name: dir });
}

/** A layout or archive argument as inputs: the path of every way to read `PATH[:TAG][@DIGEST]`. */
export function refInputs(io: CliIo, value: string, label: string): InputPath[] {
  const bare = value.replace(/^oci-layout:\/\//, '');
  const paths = new Set(refCandidates(bare).map((r) => r.path));
  return [...paths].map((p) => ({ path: path.resolve(io.cwd, p), label }));
}

/**
 * An output path from the command line, absolute but not normalised: `..` is left for the
 * kernel to take after symlinks, as it would for `mkdir -p` (the output guard resolves it so).
 */
export function outputPath(io: CliIo, p: string): string {
  return path.isAbsolute(p) ? p : `${io.cwd}/${p}`;
}
