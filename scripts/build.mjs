#!/usr/bin/env node
// Builds the library (tsc -> dist/lib) and the single-file CLI (esbuild -> dist/ocikit.cjs).
// The CLI bundle needs only `node` at run time: no node_modules, as Bazel actions want.
// `--out-dir DIR` builds into DIR (DIR/lib, DIR/ocikit.cjs) instead of dist/: the release
// script builds its bundle fresh there without touching the working tree.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
const args = process.argv.slice(2);
if (!(args.length === 0 || (args.length === 2 && args[0] === '--out-dir'))) {
  console.error('usage: node scripts/build.mjs [--out-dir DIR]');
  process.exit(2);
}
const outDir = args.length === 2 ? path.resolve(args[1]) : path.join(root, 'dist');

rmSync(path.join(outDir, 'lib'), { recursive: true, force: true });
execFileSync(
  process.execPath,
  [
    path.join(root, 'node_modules/typescript/bin/tsc'),
    '-p',
    path.join(root, 'tsconfig.build.json'),
    '--outDir',
    path.join(outDir, 'lib'),
  ],
  {
    stdio: 'inherit',
  },
);

const out = path.join(outDir, 'ocikit.cjs');
/** Where the CLI's code starts in the bundle (src/cli/bin.ts looks for the first one). */
const CLI_MARK = '\n/*OCIKIT-CLI\n';
const tmp = `${out}.tmp-${process.pid}`;
const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  minify: true,
  legalComments: 'none',
  define: { __OCIKIT_VERSION__: JSON.stringify(pkg.version) },
  logLevel: 'warning',
};
// The CLI itself (src/cli/entry.ts and everything it loads), as CommonJS: then node's built-in
// modules are loaded where a module first runs (esbuild's ESM output would import all of them
// at start), and each command's code runs only when the command does (dynamic imports become
// lazy initialisers). It is appended to the bootstrap as a block comment (node skips a comment
// at almost no cost; code would be parsed, a string literal copied): the function expression
// `(function (require, module, importMeta) {...})`, with every `*/` written `*\/`. The
// bootstrap reads it back and compiles it through V8's code cache (src/cli/code-cache.ts).
const cli = await build({
  ...common,
  entryPoints: [path.join(root, 'src/cli/entry.ts')],
  format: 'cjs',
  write: false,
  define: { ...common.define, 'import.meta.url': '__ocikit_import_meta.url' },
  // Startup cost: see scripts/shims/string-width.js.
  alias: { 'string-width': path.join(root, 'scripts/shims/string-width.js') },
});
const code = `(function (require, module, __ocikit_import_meta) {${cli.outputFiles[0].text}\n})`;
if (code.includes('*\\/')) throw new Error('the CLI code holds "*\\/": pick another escape');
// The bootstrap (src/cli/bin.ts): what node parses at every start, CommonJS (see bin.ts).
const bootstrap = await build({
  ...common,
  entryPoints: [path.join(root, 'src/cli/bin.ts')],
  write: false,
  format: 'cjs',
  define: {
    ...common.define,
    __OCIKIT_CLI_ID__: JSON.stringify(createHash('sha256').update(code).digest('hex').slice(0, 16)),
  },
  banner: { js: '#!/usr/bin/env node' },
});
const bundle = `${bootstrap.outputFiles[0].text}${CLI_MARK}${code.replaceAll('*/', '*\\/')}\n*/\n`;
if (bootstrap.outputFiles[0].text.includes(CLI_MARK))
  throw new Error('the bootstrap holds the CLI mark');
// The bootstrap reads the CLI back as latin1: the bundle must be ASCII (esbuild escapes the rest).
if (!/^[\x00-\x7f]*$/.test(bundle)) throw new Error('the bundle is not ASCII');
writeFileSync(tmp, bundle);
chmodSync(tmp, 0o755);
renameSync(tmp, out);
// dist/ocikit.mjs, the bundle's name in 0.1: a deprecated alias for one release.
const alias = path.join(outDir, 'ocikit.mjs');
writeFileSync(
  `${alias}.tmp-${process.pid}`,
  [
    '#!/usr/bin/env node',
    '// Deprecated: the bundle is ocikit.cjs (a CommonJS entry starts ~3.5 ms faster); this',
    '// alias of 0.1 goes in 0.3.',
    "process.stderr.write('ocikit: warning: dist/ocikit.mjs is deprecated, run dist/ocikit.cjs\\n');",
    "await import('./ocikit.cjs');",
    '',
  ].join('\n'),
);
chmodSync(`${alias}.tmp-${process.pid}`, 0o755);
renameSync(`${alias}.tmp-${process.pid}`, alias);
const show = (p) => (p.startsWith(`${root}/`) ? path.relative(root, p) : p);
console.error(`built ${show(out)} (alias ${show(alias)}) and ${show(path.join(outDir, 'lib'))}`);
