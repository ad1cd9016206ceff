/**
 * `npm run release` (scripts/release.mjs): the Bazel module archive. Two real runs (each builds
 * the bundle fresh) write the same bytes; the archive holds exactly the module's files with
 * fixed header fields, is read by GNU tar, and its bundle runs; the printed sha256, integrity
 * and snippets describe the file written; an existing archive is never overwritten; versions
 * that disagree, and stray files under rules/, are refused. Also: the npm package ships LICENSE.
 * Consumed by real Bazel through archive_override in test/e2e/bazel.sh.
 */
import { execFile, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { gunzipSync } from 'node:zlib';
import t from 'tap';
import { ROOT } from './helpers/cli.js';
import { rawHeaders } from './helpers/raw-tar.js';
import { CLEAN_ENV, privateTestdir } from './helpers/tools.js';

const SCRIPT = path.join(ROOT, 'scripts/release.mjs');
const VERSION = (
  JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
    version: string;
  }
).version;
const PREFIX = `ocikit-v${VERSION}`;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The release script as a person runs it (only PATH in its environment). */
function release(
  args: string[],
  started?: (child: ChildProcess) => void,
  tmp?: string,
): Promise<Run> {
  return new Promise((resolve) => {
    const env = tmp === undefined ? [] : [`TMPDIR=${tmp}`];
    const argv = [...CLEAN_ENV, ...env, process.execPath, SCRIPT, ...args];
    const child = execFile(
      argv[0] as string,
      argv.slice(1),
      { cwd: ROOT, encoding: 'utf8', env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin' } },
      (error, stdout, stderr) =>
        resolve({
          code: error ? (typeof error.code === 'number' ? error.code : -1) : 0,
          stdout,
          stderr,
        }),
    );
    started?.(child);
  });
}

interface Summary {
  archive: string;
  archiveOverride: string;
  integrity: string;
  sha256: string;
  size: number;
  sourceJson: Record<string, unknown>;
  stripPrefix: string;
  urls: string[];
  version: string;
}

/** The repository files the archive must hold (besides the bundle), walked independently. */
function expectedSources(): string[] {
  const out = ['BUILD.bazel', 'LICENSE', 'MODULE.bazel', 'README.md', 'docs/rules.md'];
  const walk = (rel: string): void => {
    for (const e of readdirSync(path.join(ROOT, rel), { withFileTypes: true })) {
      const child = `${rel}/${e.name}`;
      if (child === 'rules/tests') continue;
      if (e.isDirectory()) walk(child);
      else out.push(child);
    }
  };
  walk('rules');
  return out;
}

t.test('npm run release', async (t) => {
  const dir = privateTestdir(t);
  const a = await release(['--out', path.join(dir, 'a'), '--json']);
  t.equal(a.code, 0, 'first run', { stderr: a.stderr });
  const b = await release([
    '--out',
    path.join(dir, 'b'),
    '--json',
    '--url',
    'https://example.com/ocikit.tar.gz',
    '--url',
    'https://mirror.example.com/ocikit.tar.gz',
  ]);
  t.equal(b.code, 0, 'second run', { stderr: b.stderr });
  const sa = JSON.parse(a.stdout) as Summary;
  const sb = JSON.parse(b.stdout) as Summary;
  const bytes = readFileSync(sa.archive);

  t.test('two runs write the same bytes', async (t) => {
    t.equal(sa.archive, path.join(dir, 'a', `${PREFIX}.tar.gz`), 'named for the version');
    t.ok(readFileSync(sb.archive).equals(bytes), 'byte-identical archives');
    const digest = createHash('sha256').update(bytes).digest();
    t.equal(sa.sha256, digest.toString('hex'), 'the printed sha256 is the file’s');
    t.equal(sb.sha256, sa.sha256, 'same sha256');
    t.equal(sa.integrity, `sha256-${digest.toString('base64')}`, 'SRI integrity');
    t.equal(sa.size, bytes.length, 'size');
  });

  t.test('gzip without name or timestamp', async (t) => {
    t.same([...bytes.subarray(0, 10)], [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
  });

  t.test('the archive holds the module, sorted, with fixed header fields', async (t) => {
    const tar = gunzipSync(bytes);
    const entries = rawHeaders(tar).map((h) => ({
      ...h,
      body: tar.subarray(h.offset + 512, h.offset + 512 + h.size),
    }));
    const names = entries.map((e) => e.name);
    t.same(
      names,
      [...names].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y))),
      'sorted',
    );
    const files = entries.filter((e) => e.typeflag === '0').map((e) => e.name);
    const want = [...expectedSources(), 'dist/ocikit.cjs'].map((f) => `${PREFIX}/${f}`).sort();
    t.same([...files].sort(), want, 'exactly the module files: no tests, no sources, no npm');
    for (const e of entries) {
      const isDir = e.typeflag === '5';
      if (isDir) t.ok(e.name.endsWith('/'), `${e.name}: directory`);
      else t.equal(e.typeflag, '0', `${e.name}: regular file`);
      const parent = e.name.replace(/[^/]+\/?$/, '');
      if (parent !== '')
        t.ok(names.indexOf(parent) < names.indexOf(e.name), `${e.name}: after its directory`);
      const mode = isDir || e.body.subarray(0, 2).toString() === '#!' ? 0o755 : 0o644;
      t.same(
        [e.mode, e.uid, e.gid, e.mtime, e.uname, e.gname, e.magic],
        [mode, 0, 0, 0, '', '', 'ustar\u000000'],
        `${e.name}: mode ${mode.toString(8)}, uid/gid 0, mtime 0, no user or group name`,
      );
      const rel = e.name.slice(PREFIX.length + 1);
      if (!isDir && rel !== 'dist/ocikit.cjs') {
        t.ok(e.body.equals(readFileSync(path.join(ROOT, rel))), `${rel}: the repository's bytes`);
      }
    }
    const module = entries.find((e) => e.name === `${PREFIX}/MODULE.bazel`);
    t.match(module?.body.toString(), new RegExp(`version = "${VERSION.replace(/\./g, '\\.')}"`));
  });

  t.test('GNU tar reads it and the bundle in it runs', async (t) => {
    const x = path.join(dir, 'x');
    mkdirSync(x);
    const tar = spawnSync('tar', ['-xzf', sa.archive, '-C', x], { encoding: 'utf8' });
    t.equal(tar.status, 0, 'tar -xzf', { stderr: tar.stderr });
    const bundle = path.join(x, PREFIX, 'dist/ocikit.cjs');
    t.equal(statSync(bundle).mode & 0o777, 0o755, 'the bundle is executable');
    const v = spawnSync(process.execPath, [bundle, '--version'], { encoding: 'utf8', cwd: x });
    t.equal(v.status, 0, 'ocikit --version');
    t.equal(v.stdout.trim(), VERSION, 'the bundle is this version');
  });

  t.test('snippets', async (t) => {
    const fileUrl = pathToFileURL(sa.archive).href;
    t.same(sa.urls, [fileUrl], 'default URL: the archive written');
    t.equal(sa.stripPrefix, PREFIX);
    t.equal(
      sa.archiveOverride,
      [
        `bazel_dep(name = "ocikit", version = "${VERSION}")`,
        'archive_override(',
        '    module_name = "ocikit",',
        `    urls = ["${fileUrl}"],`,
        `    integrity = "${sa.integrity}",`,
        `    strip_prefix = "${PREFIX}",`,
        ')',
        '',
      ].join('\n'),
      'archive_override',
    );
    t.same(
      sb.sourceJson,
      {
        integrity: sa.integrity,
        mirror_urls: ['https://mirror.example.com/ocikit.tar.gz'],
        strip_prefix: PREFIX,
        url: 'https://example.com/ocikit.tar.gz',
      },
      'source.json: --url, its mirrors, integrity, strip_prefix',
    );
    t.same(Object.keys(sb.sourceJson), Object.keys(sb.sourceJson).sort(), 'keys sorted');
    const text = await release(['--out', path.join(dir, 'text')]);
    t.equal(text.code, 0, 'text output');
    const shown = createHash('sha256').update(
      readFileSync(path.join(dir, 'text', `${PREFIX}.tar.gz`)),
    );
    t.match(text.stdout, `sha256     ${shown.digest('hex')}\n`, 'prints the sha256');
    t.match(text.stdout, 'archive_override(\n', 'prints archive_override');
    t.match(text.stdout, `modules/ocikit/${VERSION}/source.json`, 'prints source.json');
  });

  t.test('never overwrites', async (t) => {
    const before = readdirSync(path.join(dir, 'a'));
    const r = await release(['--out', path.join(dir, 'a'), '--json']);
    t.equal(r.code, 1, 'exit 1');
    t.equal(
      (JSON.parse(r.stdout) as { error: { code: string } }).error.code,
      'OCIKIT_OUT_NOT_EMPTY',
    );
    t.match(r.stderr, 'release: error OCIKIT_OUT_NOT_EMPTY');
    t.ok(readFileSync(sa.archive).equals(bytes), 'archive unchanged');
    t.same(readdirSync(path.join(dir, 'a')), before, 'nothing else written');
  });

  t.test('interrupted during the build: nothing left', async (t) => {
    // Its own temporary directory: another test run beside this one has scratch of its own.
    const tmp = path.join(dir, 'tmp-interrupted');
    mkdirSync(tmp);
    const scratches = (): string[] =>
      readdirSync(tmp).filter((n) => n.startsWith('ocikit-release-'));
    const before = scratches();
    const out = path.join(dir, 'interrupted');
    const r = await release(
      ['--out', out],
      (child) => {
        setTimeout(() => child.kill('SIGINT'), 1500);
      },
      tmp,
    );
    t.equal(r.code, 130, 'exit 130', { stderr: r.stderr });
    t.match(r.stderr, 'release: interrupted (SIGINT), nothing written');
    // The build's compiler would recreate the scratch directory if it outlived the release.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    t.notOk(existsSync(out), 'no --out directory');
    t.same(
      scratches().filter((n) => !before.includes(n)),
      [],
      'no scratch directory',
    );
  });

  t.test('usage', async (t) => {
    const r = await release(['--no-such-flag']);
    t.equal(r.code, 2, 'exit 2');
    t.match(r.stderr, 'usage: npm run release');
  });
});

t.test('refusals', async (t) => {
  const m = (await import(pathToFileURL(SCRIPT).href)) as {
    releaseVersion(pkg: string, module: string): string;
    sourceFiles(root: string): string[];
  };
  const pkg = (v: string): string => JSON.stringify({ version: v });
  const mod = (v: string): string => `module(\n    name = "ocikit",\n    version = "${v}",\n)\n`;
  t.equal(m.releaseVersion(pkg('1.2.3'), mod('1.2.3')), '1.2.3', 'equal versions');
  t.throws(
    () => m.releaseVersion(pkg('1.2.3'), mod('1.2.4')),
    { code: 'RELEASE_VERSION' },
    'MODULE.bazel disagrees',
  );
  t.throws(
    () => m.releaseVersion(pkg('1.2'), mod('1.2')),
    { code: 'RELEASE_VERSION' },
    'not X.Y.Z',
  );
  t.throws(
    () => m.releaseVersion(pkg('1.2.3'), 'module(name = "ocikit")\n'),
    { code: 'RELEASE_VERSION' },
    'no module version',
  );
  t.throws(
    () =>
      m.releaseVersion(
        pkg('1.2.3'),
        'module(\n    name = "ocikit",\n)\nbazel_dep(name = "x", version = "1.2.3")\n',
      ),
    { code: 'RELEASE_VERSION' },
    'a bazel_dep version is not the module version',
  );

  const root = privateTestdir(t);
  for (const f of [
    'BUILD.bazel',
    'LICENSE',
    'MODULE.bazel',
    'README.md',
    'docs/rules.md',
    'rules/defs.bzl',
    'rules/BUILD.bazel',
    'rules/private/helper.mjs',
    'rules/tests/anything.json',
  ]) {
    mkdirSync(path.dirname(path.join(root, f)), { recursive: true });
    writeFileSync(path.join(root, f), f);
  }
  t.same(
    m.sourceFiles(root),
    [
      'BUILD.bazel',
      'LICENSE',
      'MODULE.bazel',
      'README.md',
      'docs/rules.md',
      'rules/BUILD.bazel',
      'rules/defs.bzl',
      'rules/private/helper.mjs',
    ],
    'rules/ without rules/tests',
  );
  writeFileSync(path.join(root, 'rules/private/notes.txt'), 'x');
  t.throws(() => m.sourceFiles(root), { code: 'RELEASE_SOURCE' }, 'a stray file under rules/');
});

t.test('the npm package ships LICENSE and no release archive', async (t) => {
  const r = spawnSync('npm', ['pack', '--dry-run', '--json'], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: process.env['HOME'] ?? '/root' },
  });
  t.equal(r.status, 0, 'npm pack --dry-run', { stderr: r.stderr });
  const files =
    (JSON.parse(r.stdout) as { files: { path: string }[] }[])[0]?.files.map((f) => f.path) ?? [];
  t.ok(files.includes('LICENSE'), 'LICENSE');
  t.ok(files.includes('dist/ocikit.cjs'), 'dist/ocikit.cjs');
  t.ok(files.includes('dist/ocikit.mjs'), 'dist/ocikit.mjs, the deprecated alias');
  const shipped =
    /^(CHANGELOG\.md|LICENSE|README\.md|package\.json|dist\/ocikit\.[cm]js|dist\/lib\/.*)$/;
  t.same(
    files.filter((f) => !shipped.test(f)),
    [],
    'nothing else (a release archive under dist/release is not part of it)',
  );
});
