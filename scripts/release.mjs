#!/usr/bin/env node
// Usage: npm run release [-- --out DIR] [--url URL]... [--json]
//
// Writes the Bazel module release archive DIR/ocikit-vX.Y.Z.tar.gz (default DIR: dist/release;
// X.Y.Z: package.json's version, which MODULE.bazel's must equal) and prints its sha256, its
// SRI integrity, an archive_override snippet and a Bazel registry source.json. The archive holds
// what a consumer's Bazel needs and nothing else: MODULE.bazel, BUILD.bazel, rules/ (without
// rules/tests), docs/rules.md, LICENSE, README.md and dist/ocikit.cjs, built fresh from src/ into
// a scratch directory (the working tree's dist/ is not touched). No npm on the consumer's side.
//
// Deterministic bytes: entries sorted by path, directories before their contents, every header
// with mtime 0, uid/gid 0, no user or group names, mode 0755 for directories and for files that
// start with `#!`, 0644 for the others; gzip without a file name or timestamp (OS byte 255).
// The writers are ocikit's own (src/archive/ustar.ts and gzip.ts, compiled fresh with the
// bundle), the ones `ocikit pack` writes byte-identical archives with: one tar writer in the
// repository. node-tar (a dev dependency, for the bench) takes mtimes, owners and modes from the
// file system unless each is overridden, and its gzip header carries zlib's OS byte.
// The archive is written through OutputSet (src/output/outputs.ts): atomically, and never over
// an existing file.
//
// --url URL  where the archive will be downloaded from (repeatable: the first is source.json's
//            url, the others its mirror_urls); default: the file:// URL of the written archive
// --json     one JSON document on stdout instead of the text (keys sorted)
// Exit 0 written, 1 refused or failed (nothing written), 2 usage.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = path.dirname(path.dirname(fileURLToPath(import.meta.url)));

/** Files of the archive, relative to the repository (besides rules/ and the bundle). */
export const TOP_FILES = ['BUILD.bazel', 'LICENSE', 'MODULE.bazel', 'README.md', 'docs/rules.md'];
/** What rules/ may hold (outside rules/tests, which stays out): Starlark, BUILD files, helpers. */
const RULES_FILE = /(\.bzl|\.mjs|^BUILD\.bazel|^BUILD)$/;
const RULES_EXCLUDED = 'rules/tests';

/**
 * A failure of the release, printed as `release: error CODE: message` with its hint. The codes
 * are this script's own (RELEASE_*); the output module's errors keep their OCIKIT_* codes.
 */
export class ReleaseError extends Error {
  constructor(code, message, hint) {
    super(message);
    this.code = code;
    this.hint = hint;
  }
}

/**
 * The version in the `module(...)` call of a MODULE.bazel text.
 * @throws ReleaseError RELEASE_VERSION when there is none
 */
export function moduleVersion(text) {
  const call = /^module\(([\s\S]*?)^\)/m.exec(text);
  const version = call && /^\s*version\s*=\s*"([^"]*)"/m.exec(call[1] ?? '');
  if (!version) {
    throw new ReleaseError(
      'RELEASE_VERSION',
      'MODULE.bazel has no module(version = "...")',
      'Give module() in MODULE.bazel the version of package.json.',
    );
  }
  return version[1];
}

/**
 * The release version: package.json's, which MODULE.bazel's must equal.
 * @throws ReleaseError RELEASE_VERSION
 */
export function releaseVersion(packageJson, moduleBazel) {
  const { version } = JSON.parse(packageJson);
  if (typeof version !== 'string' || !/^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/.test(version)) {
    throw new ReleaseError(
      'RELEASE_VERSION',
      `package.json's version ${JSON.stringify(version)} is not X.Y.Z[-PRE]`,
      'Set a semantic version in package.json.',
    );
  }
  const inModule = moduleVersion(moduleBazel);
  if (inModule !== version) {
    throw new ReleaseError(
      'RELEASE_VERSION',
      `MODULE.bazel says version "${inModule}", package.json says "${version}"`,
      'Bump both together: the release archive ships MODULE.bazel as it is.',
    );
  }
  return version;
}

function regularFile(abs, rel) {
  let st;
  try {
    st = lstatSync(abs);
  } catch {
    throw new ReleaseError(
      'RELEASE_SOURCE',
      `${rel} is missing`,
      'Run the release from a complete checkout.',
    );
  }
  if (!st.isFile()) {
    throw new ReleaseError(
      'RELEASE_SOURCE',
      `${rel} is not a regular file`,
      'The archive holds regular files only: replace it with one.',
    );
  }
}

/**
 * The repository files of the archive (paths relative to `root`, sorted): TOP_FILES and every
 * file under rules/ outside rules/tests. Anything else under rules/ is refused, so a new kind
 * of file is a decision, not an accident.
 * @throws ReleaseError RELEASE_SOURCE
 */
export function sourceFiles(root) {
  const out = [...TOP_FILES];
  const walk = (rel) => {
    for (const name of readdirSync(path.join(root, rel)).sort()) {
      const child = `${rel}/${name}`;
      if (child === RULES_EXCLUDED) continue;
      const st = lstatSync(path.join(root, child));
      if (st.isDirectory()) walk(child);
      else if (st.isFile() && RULES_FILE.test(name)) out.push(child);
      else {
        throw new ReleaseError(
          'RELEASE_SOURCE',
          `${child} is not a .bzl, .mjs or BUILD file`,
          'Remove it, or add its kind to RULES_FILE in scripts/release.mjs if the rules need it.',
        );
      }
    }
  };
  walk('rules');
  for (const rel of out) regularFile(path.join(root, rel), rel);
  return out.sort();
}

/** The archive entries, sorted: every directory (ending in `/`) before what it holds. */
export function archiveEntries(prefix, files) {
  const dirs = new Set([`${prefix}/`]);
  for (const f of files) {
    const parts = f.split('/');
    for (let i = 1; i < parts.length; i++) dirs.add(`${prefix}/${parts.slice(0, i).join('/')}/`);
  }
  const entries = [
    ...[...dirs].map((p) => ({ path: p, type: 'directory' })),
    ...files.map((f) => ({ path: `${prefix}/${f}`, type: 'file', rel: f })),
  ];
  return entries.sort((a, b) => Buffer.compare(Buffer.from(a.path), Buffer.from(b.path)));
}

/** The snippets a consumer and a registry need. */
export function snippets({ version, prefix, integrity, urls }) {
  const q = JSON.stringify;
  const archiveOverride = [
    `bazel_dep(name = "ocikit", version = ${q(version)})`,
    'archive_override(',
    '    module_name = "ocikit",',
    `    urls = [${urls.map((u) => q(u)).join(', ')}],`,
    `    integrity = ${q(integrity)},`,
    `    strip_prefix = ${q(prefix)},`,
    ')',
    '',
  ].join('\n');
  const source = { integrity, strip_prefix: prefix, url: urls[0] };
  if (urls.length > 1) source.mirror_urls = urls.slice(1);
  return { archiveOverride, sourceJson: sortKeys(source) };
}

function sortKeys(o) {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function usage(message) {
  process.stderr.write(
    `release: ${message}\nusage: npm run release [-- --out DIR] [--url URL]... [--json]\n`,
  );
  process.exit(2);
}

async function main(argv) {
  let opts;
  try {
    opts = parseArgs({
      args: argv,
      options: {
        out: { type: 'string', default: path.join(ROOT, 'dist/release') },
        url: { type: 'string', multiple: true, default: [] },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }).values;
  } catch (e) {
    usage(e.message);
  }
  if (opts.help) {
    const head = readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\nimport ')[0];
    const lines = head.split('\n').filter((l) => l.startsWith('//'));
    process.stdout.write(`${lines.map((l) => l.replace(/^\/\/ ?/, '')).join('\n')}\n`);
    return 0;
  }
  if (opts.out === '') usage('--out needs a directory');

  const version = releaseVersion(
    readFileSync(path.join(ROOT, 'package.json'), 'utf8'),
    readFileSync(path.join(ROOT, 'MODULE.bazel'), 'utf8'),
  );
  const prefix = `ocikit-v${version}`;
  const archive = path.resolve(opts.out, `${prefix}.tar.gz`);
  // Before the build: a release is never written twice (OutputSet checks again when writing).
  let exists = true;
  try {
    lstatSync(archive);
  } catch {
    exists = false;
  }
  if (exists) {
    throw new ReleaseError(
      'OCIKIT_OUT_NOT_EMPTY',
      `${archive} exists`,
      'A release archive is never overwritten: remove it or pass another --out.',
    );
  }
  const files = sourceFiles(ROOT);

  const scratch = mkdtempSync(path.join(os.tmpdir(), 'ocikit-release-'));
  const removeScratch = () => rmSync(scratch, { recursive: true, force: true });
  // From here on a signal leaves nothing: not the build, not the scratch directory, not a
  // temporary archive.
  let build;
  let lib;
  const onSignal = (signal, code) => () => {
    // The build runs in its own process group: stop it with its tsc child.
    if (build?.pid !== undefined) {
      try {
        process.kill(-build.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    lib?.abortOutputsSync();
    removeScratch();
    process.stderr.write(`release: interrupted (${signal}), nothing written\n`);
    process.exit(code);
  };
  process.once('SIGINT', onSignal('SIGINT', 130));
  process.once('SIGTERM', onSignal('SIGTERM', 143));
  process.once('SIGHUP', onSignal('SIGHUP', 129));
  try {
    // The bundle and the library, fresh from src/; build output goes to stderr (stdout is data).
    build = spawn(process.execPath, [path.join(ROOT, 'scripts/build.mjs'), '--out-dir', scratch], {
      stdio: ['ignore', 2, 2],
      detached: true,
    });
    const code = await new Promise((resolve, reject) => {
      build.on('error', reject);
      build.on('close', resolve);
    });
    build = undefined;
    if (code !== 0) {
      throw new ReleaseError(
        'RELEASE_BUILD',
        `node scripts/build.mjs --out-dir ${scratch} exited ${code}`,
        'Fix the build error above (npm ci first if node_modules is missing).',
      );
    }
    const load = (rel) => import(pathToFileURL(path.join(scratch, 'lib', rel)).href);
    lib = {
      ...(await load('archive/ustar.js')),
      ...(await load('archive/gzip.js')),
      ...(await load('output/outputs.js')),
    };
  } catch (e) {
    removeScratch();
    throw e;
  }

  const set = new lib.OutputSet();
  try {
    const inputs = [...TOP_FILES, 'rules'];
    await set.addInputs(inputs.map((f) => ({ path: path.join(ROOT, f), label: `source ${f}` })));
    await set.declare('release archive', archive, 'file');

    const bundle = path.join(scratch, 'ocikit.cjs');
    const chunks = [];
    for (const entry of archiveEntries(prefix, [...files, 'dist/ocikit.cjs'])) {
      if (entry.type === 'directory') {
        chunks.push(
          lib.encodeHeader({ path: entry.path, type: 'directory', size: 0, mode: 0o755 }),
        );
        continue;
      }
      const body = readFileSync(
        entry.rel === 'dist/ocikit.cjs' ? bundle : path.join(ROOT, entry.rel),
      );
      const mode = body.subarray(0, 2).toString('latin1') === '#!' ? 0o755 : 0o644;
      chunks.push(lib.encodeHeader({ path: entry.path, type: 'file', size: body.length, mode }));
      chunks.push(body, lib.padding(body.length));
    }
    chunks.push(lib.endOfArchive());

    const gz = [];
    await pipeline(
      Readable.from(chunks),
      ...lib.deterministicGzip(9),
      new Writable({
        write(chunk, _enc, cb) {
          gz.push(chunk);
          cb();
        },
      }),
    );
    const bytes = Buffer.concat(gz);
    await set.writeFile('release archive', archive, bytes);
    await set.commit();

    const digest = createHash('sha256').update(bytes).digest();
    const sha256 = digest.toString('hex');
    const integrity = `sha256-${digest.toString('base64')}`;
    const urls = opts.url.length > 0 ? opts.url : [pathToFileURL(archive).href];
    const { archiveOverride, sourceJson } = snippets({ version, prefix, integrity, urls });
    process.stderr.write(
      `release: wrote ${path.relative(process.cwd(), archive) || archive} (${bytes.length} bytes)\n`,
    );
    if (opts.json) {
      const doc = sortKeys({
        archive,
        archiveOverride,
        integrity,
        sha256,
        size: bytes.length,
        sourceJson,
        stripPrefix: prefix,
        urls,
        version,
      });
      process.stdout.write(`${JSON.stringify(doc)}\n`);
    } else {
      process.stdout.write(
        [
          `archive    ${archive}`,
          `sha256     ${sha256}`,
          `integrity  ${integrity}`,
          '',
          '# MODULE.bazel of a workspace using this archive:',
          archiveOverride,
          `# source.json of a Bazel registry (modules/ocikit/${version}/source.json):`,
          `${JSON.stringify(sourceJson, null, 4)}`,
          '',
        ].join('\n'),
      );
    }
    return 0;
  } finally {
    await set.close();
    removeScratch();
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const json = process.argv.includes('--json');
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e) => {
      if (e instanceof ReleaseError || String(e?.code).startsWith('OCIKIT_')) {
        if (json) {
          const error = { code: e.code, hint: e.hint ?? '', message: e.message };
          process.stdout.write(`${JSON.stringify({ error })}\n`);
        }
        process.stderr.write(`release: error ${e.code}: ${e.message}\n  hint: ${e.hint ?? ''}\n`);
      } else {
        process.stderr.write(`release: ${e?.stack ?? e}\n`);
      }
      process.exit(1);
    },
  );
}
