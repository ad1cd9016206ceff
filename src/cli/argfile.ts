/**
 * Argument files, and which script a command line from one asks for. Bazel's rules run every
 * action as `node ocikit.cjs @ARGS...`: each ARGS file holds one argument per line (Bazel's
 * "multiline" param file format) and its first line names the script the action runs — this
 * bundle, or the rules' helper.mjs. A persistent worker gets the same lines in its requests.
 * No dependencies: the bundle's bootstrap uses this before it loads anything else.
 */
// The bootstrap's modules take node's built-ins with process.getBuiltinModule: an ES module
// `import` of the first built-in costs node ~1.5 ms at start.
const { readFileSync, realpathSync } = process.getBuiltinModule('node:fs');
const path = process.getBuiltinModule('node:path');

/** An argument file that cannot be read (a usage error). */
export class ArgFileError extends Error {}

/** What a command line asks for: the CLI with `argv`, or the helper script at `path`. */
export type Target =
  { kind: 'cli'; argv: string[] } | { kind: 'helper'; path: string; argv: string[] };

/**
 * Replace the leading `@FILE` arguments with FILE's lines (relative to `cwd`; not nested,
 * no quoting, as Bazel writes them). Only leading ones: a command never starts with `@`, so
 * every other command line means what it always did.
 * @throws ArgFileError when a file cannot be read
 */
export function expandArgFiles(argv: readonly string[], cwd: string): string[] {
  const out: string[] = [];
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i] as string;
    if (!a.startsWith('@') || a.startsWith('@@') || a === '@') break;
    let text: string;
    try {
      text = readFileSync(path.resolve(cwd, a.slice(1)), 'utf8');
    } catch (e) {
      throw new ArgFileError(
        `argument file ${a}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      );
    }
    const lines = text.split('\n');
    if (lines[lines.length - 1] === '') lines.pop();
    out.push(...lines);
  }
  return [...out, ...argv.slice(i)];
}

/** The argument files a command line starts with (`@FILE` arguments), as absolute paths. */
export function argFilePaths(argv: readonly string[], cwd: string): string[] {
  const out: string[] = [];
  for (const a of argv) {
    if (!a.startsWith('@') || a.startsWith('@@') || a === '@') break;
    out.push(path.resolve(cwd, a.slice(1)));
  }
  return out;
}

/** Whether a command line starts with an argument file. */
export function hasArgFiles(argv: readonly string[]): boolean {
  const a = argv[0];
  return a !== undefined && a.startsWith('@') && !a.startsWith('@@') && a !== '@';
}

const SCRIPT = /\.(mjs|cjs|js)$/;

/** Whether two files hold the same bytes (this bundle, copied rather than linked into a sandbox). */
function sameBytes(a: string, b: string): boolean {
  try {
    return path.basename(a) === path.basename(b) && readFileSync(a).equals(readFileSync(b));
  } catch {
    return false;
  }
}

/** `ocikit.mjs` beside this `ocikit.cjs`: the bundle's name in 0.1, a deprecated alias of it. */
function isAlias(real: string, self: string): boolean {
  return (
    path.basename(real) === 'ocikit.mjs' &&
    path.basename(self) === 'ocikit.cjs' &&
    path.dirname(real) === path.dirname(self)
  );
}

/**
 * The script and arguments a command line asks for. `self` is the real path of the running
 * bundle. A command line read from argument files — `@FILE` arguments, or a worker request,
 * whose arguments Bazel read from them (`expanded`) — may start with a script path (run_node's
 * convention): this bundle (dropped: the rest is an ocikit command line) or the rules'
 * `helper.mjs`. Anything else is the CLI's as written.
 * @throws ArgFileError when an argument file cannot be read, or names another script
 */
export function targetOf(
  argv: readonly string[],
  cwd: string,
  self: string,
  expanded = false,
): Target {
  if (!expanded && !hasArgFiles(argv)) return { kind: 'cli', argv: [...argv] };
  const lines = expandArgFiles(argv, cwd);
  const first = lines[0];
  if (first === undefined || !SCRIPT.test(first)) return { kind: 'cli', argv: lines };
  let real: string;
  try {
    real = realpathSync(path.resolve(cwd, first));
  } catch (e) {
    throw new ArgFileError(`script ${first}: ${(e as NodeJS.ErrnoException).code ?? e}`);
  }
  if (real === self || sameBytes(real, self) || isAlias(real, self)) {
    return { kind: 'cli', argv: lines.slice(1) };
  }
  if (path.basename(real) === 'helper.mjs')
    return { kind: 'helper', path: real, argv: lines.slice(1) };
  throw new ArgFileError(
    `${first} is neither this ocikit (${self}) nor the rules' helper.mjs: ocikit runs only those`,
  );
}
