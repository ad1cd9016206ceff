/**
 * The bootstrap of the bundled CLI (dist/ocikit.cjs): the only code node parses at start. It is
 * CommonJS: node's ES module loader alone costs a cold process ~3.5 ms (15% of `node -e 0`
 * here), and nothing here needs it (`import()` of the helper works from CommonJS too).
 * `--version` is answered here; a helper action of the Bazel rules runs the helper without the
 * CLI; everything else compiles the CLI's code (a comment at the end of the bundle: see
 * scripts/build.mjs) through V8's code cache (code-cache.ts) and calls its entry (entry.ts).
 */
import { hasArgFiles, targetOf, type Target } from './argfile.js';
import { cacheDir, commandKey, compileCached } from './code-cache.js';
import { runHelperScript } from './helper.js';
import type { Host } from './entry.js';
import { VERSION } from './version.js';

/** A hash of the CLI's code (the cache's key). */
declare const __OCIKIT_CLI_ID__: string;

type Entry = { main: (argv: string[], host: Host, target?: Target) => void };

// Built-ins through process.getBuiltinModule: see argfile.ts.
const fs = process.getBuiltinModule('node:fs');

/**
 * The CLI's code, `(function (require, module, importMeta) {...})`: the block comment that
 * ends this file (scripts/build.mjs wrote every `*\/` in it with a backslash).
 */
function cliCode(self: string): string {
  // Bytes, decoded as latin1 (the bundle is ASCII: scripts/build.mjs checks), which is cheaper
  // than UTF-8 for 300 KB.
  const bytes = fs.readFileSync(self);
  // Joined at run time so that the bootstrap does not hold the mark: the first one in the file
  // is then the CLI's, found from the start (a search from the end crosses 300 KB: ~0.3 ms).
  const mark = ['\n/*OCIKIT', 'CLI\n'].join('-');
  const start = bytes.indexOf(mark) + mark.length;
  return bytes.toString('latin1', start, bytes.lastIndexOf('\n*/')).replaceAll('*\\/', '*/');
}

function cli(argv: string[], host: Host, target?: Target): void {
  const factory = compileCached(
    cliCode(host.self),
    __OCIKIT_CLI_ID__,
    `${host.self} (cli)`,
    cacheDir(process.env),
    commandKey(argv),
  ) as (require: NodeJS.Require, module: { exports: unknown }, meta: { url: string }) => void;
  const module = { exports: {} as unknown };
  // The CLI requires only node's built-ins (esbuild bundled everything else).
  const builtin = ((id: string) => process.getBuiltinModule(id) ?? require(id)) as NodeJS.Require;
  // import.meta of the bundled code (only yargs reads it, when it is loaded): made when asked.
  const meta = {
    get url() {
      return process.getBuiltinModule('node:url').pathToFileURL(host.self).href;
    },
  };
  factory(builtin, module, meta);
  (module.exports as Entry).main(argv, host, target);
}

function main(argv: string[]): void {
  const url = process.getBuiltinModule('node:url');
  // __filename: the real path (node resolves the links of the main script).
  const host: Host = { self: __filename, importModule: (u) => import(u) };
  if (!hasArgFiles(argv)) return cli(argv, host);
  let target: Target | undefined;
  try {
    target = targetOf(argv, process.cwd(), host.self);
  } catch {
    // the CLI reports it
  }
  if (target?.kind !== 'helper') return cli(argv, host, target);
  const io = {
    stdout: (t: string) => void process.stdout.write(t),
    stderr: (t: string) => void process.stderr.write(t),
    stderrIsTTY: false,
    cwd: process.cwd(),
    env: process.env,
  };
  void runHelperScript(
    target.path,
    url.pathToFileURL(target.path).href,
    target.argv,
    io,
    host.importModule,
  ).then((code) => void (process.exitCode = code));
}

const argv = process.argv.slice(2);
if (argv.length === 1 && argv[0] === '--version') {
  // write(2): process.stdout would load Node's stream modules for one line (see io.ts).
  try {
    fs.writeSync(1, `${VERSION}\n`);
  } catch {
    process.stdout.write(`${VERSION}\n`);
  }
} else main(argv);
