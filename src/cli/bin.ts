/**
 * The bootstrap of the bundled CLI (dist/ocikit.mjs): the only code node parses at start.
 * `--version` is answered here; a helper action of the Bazel rules runs the helper without the
 * CLI; everything else compiles the CLI's code (a comment at the end of the bundle: see
 * scripts/build.mjs) through V8's code cache (code-cache.ts) and calls its entry (entry.ts).
 */
import { hasArgFiles, targetOf, type Target } from './argfile.js';
import { cacheDir, compileCached } from './code-cache.js';
import type { Host } from './entry.js';
import { VERSION } from './version.js';

/** A hash of the CLI's code (the cache's key). */
declare const __OCIKIT_CLI_ID__: string;

type Entry = { main: (argv: string[], host: Host, target?: Target) => void };

// Built-ins through process.getBuiltinModule: see argfile.ts.
const { readFileSync } = process.getBuiltinModule('node:fs');
const { fileURLToPath, pathToFileURL } = process.getBuiltinModule('node:url');

const argv = process.argv.slice(2);
const self = fileURLToPath(import.meta.url);
const host: Host = { self, importModule: (url) => import(url) };

/**
 * The CLI's code, `(function (require, module, importMetaUrl) {...})`: the block comment that
 * ends this file (scripts/build.mjs wrote every `*\/` in it with a backslash).
 */
function cliCode(): string {
  const text = readFileSync(self, 'utf8');
  const start = text.lastIndexOf('\n/*OCIKIT-CLI\n') + '\n/*OCIKIT-CLI\n'.length;
  return text.slice(start, text.lastIndexOf('\n*/')).replaceAll('*\\/', '*/');
}

function cli(target?: Target): void {
  const factory = compileCached(
    cliCode(),
    __OCIKIT_CLI_ID__,
    `${self} (cli)`,
    cacheDir(process.env),
  ) as (require: NodeJS.Require, module: { exports: unknown }, url: string) => void;
  const module = { exports: {} as unknown };
  const { createRequire } = process.getBuiltinModule('node:module');
  factory(createRequire(import.meta.url), module, import.meta.url);
  (module.exports as Entry).main(argv, host, target);
}

if (argv.length === 1 && argv[0] === '--version') {
  process.stdout.write(`${VERSION}\n`);
} else if (!argv.includes('--persistent_worker') && hasArgFiles(argv)) {
  let target: Target | undefined;
  try {
    target = targetOf(argv, process.cwd(), self);
  } catch {
    // the CLI reports it
  }
  if (target?.kind === 'helper') {
    const { path, argv: rest } = target;
    void import(pathToFileURL(path).href).then((m: { runHelper: Function }) => {
      process.exitCode = m.runHelper(rest, {
        cwd: process.cwd(),
        stderr: (t: string) => process.stderr.write(t),
      }) as number;
    });
  } else cli(target);
} else cli();
