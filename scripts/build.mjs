#!/usr/bin/env node
// Builds the library (tsc -> dist/lib) and the single-file CLI (esbuild -> dist/ocikit.mjs).
// The CLI bundle needs only `node` at run time: no node_modules, as Bazel actions want.
// `--out-dir DIR` builds into DIR (DIR/lib, DIR/ocikit.mjs) instead of dist/: the release
// script builds its bundle fresh there without touching the working tree.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { chmodSync, readFileSync, renameSync, rmSync } from 'node:fs';
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

const out = path.join(outDir, 'ocikit.mjs');
const tmp = `${out}.tmp-${process.pid}`;
await build({
  entryPoints: [path.join(root, 'src/cli/bin.ts')],
  outfile: tmp,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  minify: true,
  legalComments: 'none',
  define: { __OCIKIT_VERSION__: JSON.stringify(pkg.version) },
  // Startup cost: see scripts/shims/string-width.js.
  alias: { 'string-width': path.join(root, 'scripts/shims/string-width.js') },
  banner: {
    js: "#!/usr/bin/env node\nimport { createRequire as __ocikitCreateRequire } from 'node:module'; const require = __ocikitCreateRequire(import.meta.url);",
  },
  logLevel: 'warning',
});
chmodSync(tmp, 0o755);
renameSync(tmp, out);
const show = (p) => (p.startsWith(`${root}/`) ? path.relative(root, p) : p);
console.error(`built ${show(out)} and ${show(path.join(outDir, 'lib'))}`);
