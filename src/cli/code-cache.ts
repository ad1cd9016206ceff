/**
 * Loading the CLI's code with V8's code cache, so a cold start does not parse and compile it.
 *
 * dist/ocikit.cjs is one file: a small bootstrap (bin.ts) and the CLI as a string. Node's
 * `module.enableCompileCache()` (Node >= 22.1) caches modules loaded after the call, never the
 * file that calls it, so it cannot cover one self-contained bundle; this module does what it
 * does, on every supported Node (20 included): the code is compiled with `vm.Script` and the
 * cache V8 produced after the first run (lazily compiled functions included) is kept in a file,
 * keyed by the code's hash, the Node version, the architecture, node's own flags (the command
 * line's and `NODE_OPTIONS`: V8 rejects a cache made under other flags, so runs that alternate
 * flags keep one file each instead of rewriting one) and the command ({@link commandKey}). V8 checks the cache against its own
 * version and flags and ignores one that does not fit; it is then rewritten.
 *
 * Where: `$OCIKIT_COMPILE_CACHE` (a directory; `off` disables it), else `$NODE_COMPILE_CACHE`
 * (where Node keeps its own), else `$XDG_CACHE_HOME/ocikit`, else `~/.cache/ocikit` (not the
 * temporary directory: a run leaves nothing there). The directory must belong to the running
 * user and be writable by nobody else (a planted cache would be code), else it is not used. A
 * cache never changes what a command does or writes; Bazel's rules turn it off in their actions
 * (hermetic `/tmp`, and the persistent worker compiles once), see README "Start-up".
 */
import type { Script } from 'node:vm';

// Built-ins through process.getBuiltinModule: see argfile.ts.
const {
  closeSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} = process.getBuiltinModule('node:fs');

/**
 * Cache files kept per directory (one per ocikit build, Node version, flags and command); the
 * oldest go first.
 */
const KEEP = 24;

/**
 * The part of the file name for what the run does: its command (`resolve`, `context`, ...), or
 * `help` when yargs will be loaded. V8's cache holds every function the run that made it
 * compiled and is read whole: one made by `--help` (yargs) is 300 KB and costs a `resolve` ~2.5 ms
 * more to read than the 190 KB one a `resolve` makes, so each command keeps its own.
 */
export function commandKey(argv: readonly string[]): string {
  if (argv.includes('--help') || argv.includes('-h')) return 'help';
  const word = argv.find((a) => !a.startsWith('-'));
  return word !== undefined && /^[a-z][a-z-]{0,15}$/.test(word) ? word : 'other';
}

/** The cache directory for `env`, or undefined when the cache is off. */
export function cacheDir(env: Record<string, string | undefined>): string | undefined {
  const own = env['OCIKIT_COMPILE_CACHE'];
  if (own !== undefined && own !== '') return /^(off|0|false|no)$/i.test(own) ? undefined : own;
  const node = env['NODE_COMPILE_CACHE'];
  if (node !== undefined && node !== '') return node;
  const xdg = env['XDG_CACHE_HOME'];
  if (xdg !== undefined && xdg.startsWith('/')) return `${xdg}/ocikit`;
  // $HOME as os.homedir() reads it first, without loading node:os for it.
  const home = env['HOME'];
  if (home !== undefined && home.startsWith('/')) return `${home}/.cache/ocikit`;
  try {
    return `${process.getBuiltinModule('node:os').homedir()}/.cache/ocikit`;
  } catch {
    return undefined; // no home directory: no cache
  }
}

/**
 * The file name part for the flags node runs with (`-f` and 8 hex digits of a hash of
 * `process.execArgv` and `NODE_OPTIONS`), or nothing when there are none.
 */
export function flagsKey(execArgv: readonly string[], nodeOptions: string | undefined): string {
  const flags = [...execArgv, nodeOptions ?? ''].join('\0');
  if (flags === '') return '';
  let h = 0x811c9dc5; // FNV-1a, 32 bits
  for (let i = 0; i < flags.length; i++) h = Math.imul(h ^ flags.charCodeAt(i), 0x01000193);
  return `-f${(h >>> 0).toString(16).padStart(8, '0')}`;
}

/** Whether `dir` is a directory of this user that no one else may write to. */
function trusted(dir: string): boolean {
  try {
    const st = lstatSync(dir);
    return st.isDirectory() && st.uid === (process.getuid?.() ?? st.uid) && (st.mode & 0o022) === 0;
  } catch {
    return false;
  }
}

/**
 * Compile `source` (a function expression) and return its value, using and refreshing the
 * cache in `dir`. `id` names the code (a hash of it); `filename` shows in stack traces.
 */
export function compileCached(
  source: string,
  id: string,
  filename: string,
  dir: string | undefined,
  command = 'other',
): unknown {
  const file =
    dir === undefined
      ? undefined
      : `${dir}/ocikit-${id}-${process.version}-${process.arch}${flagsKey(process.execArgv, process.env['NODE_OPTIONS'])}-${command}.v8`;
  let cachedData: Buffer | undefined;
  if (file !== undefined && trusted(dir as string)) {
    try {
      cachedData = readFileSync(file);
    } catch {
      // none yet
    }
  }
  const { Script } = process.getBuiltinModule('node:vm');
  const script =
    cachedData === undefined
      ? new Script(source, { filename })
      : new Script(source, { filename, cachedData });
  if (file !== undefined && (cachedData === undefined || script.cachedDataRejected === true))
    process.once('exit', () => store(script, dir as string, file));
  return script.runInThisContext();
}

/** Write the cache (atomically; any failure leaves things as they were), then prune. */
function store(script: Script, dir: string, file: string): void {
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    if (!trusted(dir)) return;
    const data = script.createCachedData();
    const fd = openSync(tmp, 'wx', 0o600);
    try {
      writeSync(fd, data);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
    const mine = readdirSync(dir)
      .filter((n) => n.startsWith('ocikit-') && n.endsWith('.v8'))
      .map((n) => ({ n, t: statSync(`${dir}/${n}`).mtimeMs }))
      .sort((a, b) => b.t - a.t);
    for (const { n } of mine.slice(KEEP)) unlinkSync(`${dir}/${n}`);
  } catch {
    // a cache is an optimisation: never a failure
    try {
      unlinkSync(tmp);
    } catch {
      // not created
    }
  }
}
