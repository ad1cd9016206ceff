/**
 * The `docker buildx build` flags ocikit accepts, as one table: parsing them from argv or
 * from a JSON config (keys are the table's `key`s), and writing them back as argv in a fixed,
 * deterministic order.
 */
import { ErrorCode, OcikitError } from '../errors.js';

type Kind = 'value' | 'list' | 'bool';

interface Flag {
  /** Long flag without dashes. */
  name: string;
  short?: string;
  /** Key in {@link BuildFlags} and in the JSON config. */
  key: keyof BuildFlags;
  kind: Kind;
}

/** Parsed `docker buildx build` flags. Lists keep their order (later wins where buildx says so). */
export interface BuildFlags {
  addHost?: string[];
  allow?: string[];
  annotation?: string[];
  attest?: string[];
  buildArg?: string[];
  buildContext?: string[];
  builder?: string;
  cacheFrom?: string[];
  cacheTo?: string[];
  call?: string;
  cgroupParent?: string;
  check?: boolean;
  file?: string;
  iidfile?: string;
  label?: string[];
  load?: boolean;
  metadataFile?: string;
  network?: string;
  noCache?: boolean;
  noCacheFilter?: string[];
  output?: string[];
  platform?: string[];
  progress?: string;
  provenance?: string;
  pull?: boolean;
  push?: boolean;
  quiet?: boolean;
  sbom?: string;
  secret?: string[];
  shmSize?: string;
  ssh?: string[];
  tag?: string[];
  target?: string;
  ulimit?: string[];
}

/** The table, in the order flags are written back. */
export const FLAGS: readonly Flag[] = [
  { name: 'builder', key: 'builder', kind: 'value' },
  { name: 'file', short: 'f', key: 'file', kind: 'value' },
  { name: 'target', key: 'target', kind: 'value' },
  { name: 'platform', key: 'platform', kind: 'list' },
  { name: 'build-context', key: 'buildContext', kind: 'list' },
  { name: 'build-arg', key: 'buildArg', kind: 'list' },
  { name: 'label', key: 'label', kind: 'list' },
  { name: 'annotation', key: 'annotation', kind: 'list' },
  { name: 'tag', short: 't', key: 'tag', kind: 'list' },
  { name: 'output', short: 'o', key: 'output', kind: 'list' },
  { name: 'load', key: 'load', kind: 'bool' },
  { name: 'push', key: 'push', kind: 'bool' },
  { name: 'metadata-file', key: 'metadataFile', kind: 'value' },
  { name: 'iidfile', key: 'iidfile', kind: 'value' },
  { name: 'provenance', key: 'provenance', kind: 'value' },
  { name: 'sbom', key: 'sbom', kind: 'value' },
  { name: 'attest', key: 'attest', kind: 'list' },
  { name: 'secret', key: 'secret', kind: 'list' },
  { name: 'ssh', key: 'ssh', kind: 'list' },
  { name: 'cache-from', key: 'cacheFrom', kind: 'list' },
  { name: 'cache-to', key: 'cacheTo', kind: 'list' },
  { name: 'no-cache', key: 'noCache', kind: 'bool' },
  { name: 'no-cache-filter', key: 'noCacheFilter', kind: 'list' },
  { name: 'pull', key: 'pull', kind: 'bool' },
  { name: 'network', key: 'network', kind: 'value' },
  { name: 'add-host', key: 'addHost', kind: 'list' },
  { name: 'allow', key: 'allow', kind: 'list' },
  { name: 'cgroup-parent', key: 'cgroupParent', kind: 'value' },
  { name: 'shm-size', key: 'shmSize', kind: 'value' },
  { name: 'ulimit', key: 'ulimit', kind: 'list' },
  { name: 'call', key: 'call', kind: 'value' },
  { name: 'check', key: 'check', kind: 'bool' },
  { name: 'progress', key: 'progress', kind: 'value' },
  { name: 'quiet', short: 'q', key: 'quiet', kind: 'bool' },
];

const BY_NAME = new Map(FLAGS.map((f) => [f.name, f]));
const BY_SHORT = new Map(
  FLAGS.filter((f) => f.short !== undefined).map((f) => [f.short as string, f]),
);
const BY_KEY = new Map(FLAGS.map((f) => [f.key as string, f]));

function usage(message: string): OcikitError {
  return new OcikitError(ErrorCode.Usage, message, {
    hint: 'ocikit accepts the flags of docker buildx build; see ocikit buildx-args --help.',
  });
}

function setFlag(flags: BuildFlags, f: Flag, value: string | boolean): void {
  const rec = flags as Record<string, unknown>;
  if (f.kind === 'list') {
    const list = (rec[f.key] as string[] | undefined) ?? [];
    // --platform a,b is the same as --platform a --platform b
    if (f.key === 'platform')
      list.push(
        ...String(value)
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean),
      );
    else list.push(String(value));
    rec[f.key] = list;
  } else {
    rec[f.key] = value;
  }
}

function parseBool(raw: string, flag: string): boolean {
  if (raw === 'true' || raw === '1') return true;
  if (raw === 'false' || raw === '0') return false;
  throw usage(`--${flag}=${raw}: expected true or false`);
}

/**
 * Parse `docker buildx build` flags and the one positional context directory.
 * @throws OcikitError `OCIKIT_USAGE` for unknown flags, missing values, no or several contexts
 */
export function parseBuildArgs(argv: readonly string[]): {
  flags: BuildFlags;
  contextDir?: string;
} {
  const flags: BuildFlags = {};
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    let f: Flag | undefined;
    let inline: string | undefined;
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
      inline = eq < 0 ? undefined : arg.slice(eq + 1);
      f = BY_NAME.get(name);
      if (f === undefined) throw usage(`unknown flag --${name}`);
    } else if (arg.startsWith('-') && arg.length > 1) {
      f = BY_SHORT.get(arg.slice(1, 2));
      if (f === undefined) throw usage(`unknown flag ${arg.slice(0, 2)}`);
      if (arg.length > 2) inline = arg[2] === '=' ? arg.slice(3) : arg.slice(2);
    } else {
      positionals.push(arg);
      continue;
    }
    if (f.kind === 'bool') {
      setFlag(flags, f, inline === undefined ? true : parseBool(inline, f.name));
      continue;
    }
    let value = inline;
    if (value === undefined) {
      value = argv[i + 1];
      if (value === undefined) throw usage(`flag --${f.name} needs a value`);
      i++;
    }
    setFlag(flags, f, value);
  }
  if (positionals.length > 1)
    throw usage(
      `one build context directory expected, got ${positionals.length}: ${positionals.join(' ')}`,
    );
  const out: { flags: BuildFlags; contextDir?: string } = { flags };
  if (positionals[0] !== undefined) out.contextDir = positionals[0];
  return out;
}

/**
 * Read flags from a JSON config object (what the Bazel rules write): keys as in
 * {@link BuildFlags}, plus `context` for the context directory. Lists may also be given as
 * objects (`{"buildArg": {"K": "V"}}`), written in key order.
 * @throws OcikitError `OCIKIT_CONFIG_INVALID`
 */
export function flagsFromConfig(
  config: unknown,
  where: string,
): { flags: BuildFlags; contextDir?: string } {
  const bad = (message: string): OcikitError =>
    new OcikitError(ErrorCode.ConfigInvalid, `${where}: ${message}`, {
      hint: 'Keys are docker buildx build flags in camelCase, e.g. {"platform": ["linux/amd64"], "buildArg": {"K": "V"}}.',
    });
  if (config === null || typeof config !== 'object' || Array.isArray(config))
    throw bad('must be a JSON object');
  const flags: BuildFlags = {};
  let contextDir: string | undefined;
  for (const [key, value] of Object.entries(config as Record<string, unknown>)) {
    if (key === 'context') {
      if (typeof value !== 'string') throw bad('"context" must be a string');
      contextDir = value;
      continue;
    }
    const f = BY_KEY.get(key);
    if (f === undefined) throw bad(`unknown key "${key}"`);
    if (f.kind === 'bool') {
      if (typeof value !== 'boolean') throw bad(`"${key}" must be true or false`);
      setFlag(flags, f, value);
    } else if (f.kind === 'value') {
      if (typeof value !== 'string') throw bad(`"${key}" must be a string`);
      setFlag(flags, f, value);
    } else if (Array.isArray(value) && value.every((v) => typeof v === 'string')) {
      for (const v of value) setFlag(flags, f, v);
    } else if (
      value !== null &&
      typeof value === 'object' &&
      Object.values(value).every((v) => typeof v === 'string')
    ) {
      for (const k of Object.keys(value).sort())
        setFlag(flags, f, `${k}=${(value as Record<string, string>)[k]}`);
    } else {
      throw bad(`"${key}" must be a list of strings or an object of strings`);
    }
  }
  return contextDir === undefined ? { flags } : { flags, contextDir };
}

/** Later flags win: values replace, lists append. */
export function mergeFlags(base: BuildFlags, over: BuildFlags): BuildFlags {
  const out: Record<string, unknown> = { ...base };
  for (const f of FLAGS) {
    const v = (over as Record<string, unknown>)[f.key];
    if (v === undefined) continue;
    out[f.key] =
      f.kind === 'list' ? [...((out[f.key] as string[] | undefined) ?? []), ...(v as string[])] : v;
  }
  return out as BuildFlags;
}

/** Flags back to argv, in table order (deterministic). */
export function flagsToArgv(flags: BuildFlags): string[] {
  const argv: string[] = [];
  for (const f of FLAGS) {
    const v = (flags as Record<string, unknown>)[f.key];
    if (v === undefined) continue;
    if (f.kind === 'bool') {
      if (v === true) argv.push(`--${f.name}`);
      else argv.push(`--${f.name}=false`);
    } else if (f.kind === 'list') {
      const values = v as string[];
      if (f.key === 'platform' && values.length > 0) argv.push(`--${f.name}`, values.join(','));
      else for (const x of values) argv.push(`--${f.name}`, x);
    } else {
      argv.push(`--${f.name}`, v as string);
    }
  }
  return argv;
}
