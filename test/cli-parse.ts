/**
 * The fast parser (src/cli/parse.ts) against yargs built from the same spec: for every command
 * line the fast parser takes, yargs must read the same arguments; what it does not take goes to
 * yargs (help, usage errors, unusual spellings), so behaviour cannot differ.
 */
import t, { type Test } from 'tap';
import { parseFast } from '../src/cli/parse.js';
import { COMMANDS, GLOBAL_OPTIONS, type Args } from '../src/cli/spec.js';
import { parseWithYargs } from '../src/cli/yargs.js';
import { LINK_MODES } from '../src/ops/take-blobs.js';

async function viaYargs(argv: string[]): Promise<{ command?: string; args?: Args; code: number }> {
  let seen: { command: string; args: Args } | undefined;
  let out = '';
  const code = await parseWithYargs(
    argv,
    {
      stdout: (s) => void (out += s),
      stderr: (s) => void (out += s),
      stderrIsTTY: false,
      cwd: '/',
      env: {},
    },
    'test',
    async (c, args) => {
      seen = { command: c.name, args };
      return 0;
    },
  );
  return seen === undefined ? { code } : { ...seen, code };
}

/** The keys the spec defines for a command (what handlers read). */
function keysOf(name: string): string[] {
  const c = COMMANDS.find((x) => x.name === name);
  if (c === undefined) return [];
  return [...GLOBAL_OPTIONS, ...c.options, ...c.positionals].map((o) => o.name);
}

const TAKEN = [
  ['resolve', 'layout'],
  ['resolve', 'l', '--tag', 'v1', '--platform', 'linux/arm64', '--json'],
  ['resolve', 'l', '--tag=docker.io/x/y:1', '--digest=sha256:00', '--strict'],
  ['resolve', 'l', '--json-out', 'out.json', '--json'],
  ['resolve', '12', '--tag', '1.0'],
  ['inspect', 'l', '--no-json'],
  ['verify', 'l', '--no-digests', '--jobs', '2'],
  ['verify', 'l', '--jobs', '0', '--digests'],
  ['context', 'base=l:v1', 'other=oci-layout://x', '--out', 'o', '--mode', 'thin'],
  ['context', 'base=l', '--buildx-version', '0.29.1', '--verify', '--max-bytes', '64G'],
  ['context', 'base=l', '--docker', '/bin/docker', '--platform', 'linux/amd64'],
  ['index', 'a', 'b', '--out', 'o'],
  ['index', '--out', 'o', 'a:x', '--tag', 't1', 't2', '--annotation', 'k=v'],
  ['index', 'a', '--annotation', 'k=v', 'b', '--out', 'o', '--link', 'hard', '--oci'],
  ['index', 'a', '--tag', 'x', '--tag', 'y', '--trust-inputs', '--out=o'],
  ['pack', 'l', '--out', 'x.tar', '--gzip', '--gzip-level', '9', '--verify'],
  ['unpack', 'x.tar', '--out', 'o', '--max-bytes', '1G'],
];

const LEFT = [
  [],
  ['--help'],
  ['--version'],
  ['resolve', '--help'],
  ['resolve', 'l', '--version'],
  ['bogus'],
  ['reso'],
  ['resolve'],
  ['resolve', 'a', 'b'],
  ['resolve', 'l', '--nope'],
  ['resolve', 'l', '--Tag', 'x'],
  ['resolve', 'l', '--jsonOut', 'x'],
  ['resolve', 'l', '--tag'],
  ['resolve', 'l', '--tag', ''],
  ['resolve', 'l', '--tag', 'a', '--tag', 'b'],
  ['resolve', 'l', '--tag', '-x'],
  ['resolve', 'l', '--json=false'],
  ['resolve', 'l', '--json', 'true'],
  ['resolve', 'l', '--no-tag'],
  ['resolve', '-h'],
  ['resolve', '--', 'l'],
  ['resolve', '-'],
  ['verify', 'l', '--jobs', 'many'],
  ['verify', 'l', '--jobs', '-1'],
  ['verify', 'l', '--jobs', '1.5'],
  ['verify', 'l', '--jobs', '007'],
  ['context'],
  ['context', 'a=b', '--mode', 'nope'],
  ['index', 'a'],
  ['index', '--out', 'o'],
  ['index', '--tag', 't', 'a', '--out', 'o'],
  ['pack', 'l'],
  ['pack', 'l', '--out', 'x', '--gzip-level', 'abc'],
  ['unpack', 'x', '--out', 'o', '--max-bytes', '1', '--max-bytes', '2'],
  ['buildx-args', '--build-context', 'base=l', '.'],
  ['buildx-args', '--hermetic', '--unused-context', 'error', '--rewrite-timestamp', '.'],
  ['build', '--out', 'o', '.'],
  ['build', '--source-date-epoch', '0', '--hermetic', '--unused-context', 'warn', '.'],
];

t.test('what the fast parser takes, yargs reads the same way', async (t) => {
  for (const argv of TAKEN) {
    const fast = parseFast(argv);
    t.ok(fast, `fast parser takes: ${argv.join(' ')}`);
    if (fast === undefined) continue;
    const slow = await viaYargs(argv);
    t.equal(slow.command, fast.command.name, `${argv.join(' ')}: same command`);
    const pick = (a: Record<string, unknown> | undefined): Record<string, unknown> =>
      Object.fromEntries(keysOf(fast.command.name).map((k) => [k, a?.[k]]));
    t.same(pick(fast.args), pick(slow.args), `${argv.join(' ')}: same arguments`);
  }
});

t.test('everything else is left to yargs', async (t) => {
  for (const argv of LEFT) t.equal(parseFast(argv), undefined, `left to yargs: ${argv.join(' ')}`);
});

t.test('the spec matches the library', async (t) => {
  const index = COMMANDS.find((c) => c.name === 'index');
  t.same(index?.options.find((o) => o.name === 'link')?.choices, LINK_MODES, '--link choices');
});

/** yargs' arguments for a command line it must accept. */
async function accepted(t: Test, argv: string[]): Promise<Args> {
  const r = await viaYargs(argv);
  t.equal(r.code, 0, `accepted: ${argv.join(' ')}`);
  return r.args ?? ({} as Args);
}

t.test(
  'build and buildx-args: the Dockerfile checks and the epoch (yargs from the spec)',
  async (t) => {
    for (const command of ['build', 'buildx-args']) {
      const plain = await accepted(t, [command, '--out', 'o', '.']);
      t.equal(plain['hermetic'], false, `${command}: not hermetic by default`);
      t.equal(plain['unused-context'], 'warn', `${command}: an unused context warns by default`);
      const strict = await accepted(t, [
        command,
        '--build-context',
        'base=l',
        '--hermetic',
        '--unused-context=error',
        '-t',
        'app',
        '.',
      ]);
      t.equal(strict['hermetic'], true, `${command} --hermetic`);
      t.equal(strict['unused-context'], 'error', `${command} --unused-context=error`);
      t.same(
        strict['args'],
        ['--build-context', 'base=l', '-t', 'app', '.'],
        `${command}: docker's flags pass through`,
      );
      const off = await accepted(t, [command, '--no-hermetic', '.']);
      t.equal(off['hermetic'], false, `${command} --no-hermetic`);
      const bad = await viaYargs([command, '--unused-context', 'ignore', '.']);
      t.equal(bad.code, 2, `${command} --unused-context ignore: a usage error`);
      t.equal(bad.command, undefined, `${command} --unused-context ignore: nothing runs`);
    }

    const epoch = await accepted(t, ['build', '--source-date-epoch', '0', '.']);
    t.equal(epoch['source-date-epoch'], '0', 'build --source-date-epoch: a string, as given');
    t.equal(
      epoch['rewrite-timestamp'],
      undefined,
      'build has no --rewrite-timestamp (it follows the epoch)',
    );
    const none = await accepted(t, ['build', '.']);
    t.equal(none['source-date-epoch'], undefined, 'build: no epoch by default');
    // Given twice, yargs makes an array: the handler refuses it (OCIKIT_USAGE).
    const twice = await accepted(t, [
      'build',
      '--source-date-epoch',
      '1',
      '--source-date-epoch=2',
      '.',
    ]);
    t.same(twice['source-date-epoch'], ['1', '2'], 'build --source-date-epoch twice: both seen');

    const rewrite = await accepted(t, ['buildx-args', '--rewrite-timestamp', '.']);
    t.equal(rewrite['rewrite-timestamp'], true, 'buildx-args --rewrite-timestamp');
    const noRewrite = await accepted(t, ['buildx-args', '.']);
    t.equal(
      noRewrite['rewrite-timestamp'],
      false,
      'buildx-args: no --rewrite-timestamp by default',
    );
    const unknown = await viaYargs(['buildx-args', '--source-date-epoch', '0', '.']);
    t.same(
      unknown.args?.['args'],
      ['--source-date-epoch', '0', '.'],
      'buildx-args has no --source-date-epoch (nor had it on main): it passes through to docker',
    );
  },
);
