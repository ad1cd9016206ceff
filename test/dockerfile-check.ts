/**
 * The Dockerfile check before a build (src/ops/dockerfile-check.ts): `--hermetic` refuses every
 * image a registry would be asked for (OCIKIT_FROM_UNRESOLVED, each named, with a near-miss
 * context suggested), an unused context is a warning or (asked for) OCIKIT_CONTEXT_UNUSED, and
 * a check that cannot be made is an error only when one was asked for. In-process table, then
 * the CLI contract: `buildx-args` and `build` refuse before anything is prepared or docker runs.
 */
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import type { BuildFlags } from '../src/buildx/flags.js';
import { OcikitError } from '../src/errors.js';
import { checkDockerfile, type DockerfileCheckOptions } from '../src/ops/dockerfile-check.js';
import { ROOT, cli } from './helpers/cli.js';
import { standardLayout } from './helpers/layout-builder.js';

const FAKE = path.join(ROOT, 'test/fixtures/fake-docker.mjs');

/** The OcikitError a check must throw. */
async function refusal(p: Promise<unknown>): Promise<OcikitError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof OcikitError) return e;
    throw e;
  }
  throw new Error('the check passed; a refusal was expected');
}

t.test('checkDockerfile: what is refused, warned about, or passed', async (t) => {
  const root = t.testdir({
    app: {
      Dockerfile: 'FROM base\nCOPY a /a\n',
      'Dockerfile.ok': 'FROM base AS b\nFROM b\nCOPY --from=tools / /\n',
      'Dockerfile.many':
        '# syntax=docker/dockerfile:1\nARG V=3\nFROM alpine:$V\nRUN --mount=from=golang:1,target=/g true\n',
      'Dockerfile.bad': 'FROM a b\n',
      'Dockerfile.arg': 'ARG IMG\nFROM $IMG\n',
      'Dockerfile.target': 'FROM registry.example/build AS build\nFROM base AS release\n',
    },
  });
  type Case = [string, BuildFlags, DockerfileCheckOptions, string | string[]];
  const ctx = (...names: string[]): string[] => names.map((n) => `${n}=docker-image://x`);
  const cases: Case[] = [
    [
      'a typo in the context name',
      { buildContext: ctx('basee') },
      { hermetic: true },
      'OCIKIT_FROM_UNRESOLVED',
    ],
    ['all images given', { buildContext: ctx('base') }, { hermetic: true }, []],
    ['without --hermetic a pull is allowed', {}, {}, []],
    [
      'unused context: a warning by default',
      { buildContext: ctx('basee') },
      {},
      ['OCIKIT_W_CONTEXT_UNUSED'],
    ],
    [
      'unused context: an error when asked for',
      { buildContext: ctx('base', 'spare') },
      { unusedContexts: 'error' },
      'OCIKIT_CONTEXT_UNUSED',
    ],
    [
      'stages, contexts, COPY --from',
      { file: 'app/Dockerfile.ok', buildContext: ctx('base', 'tools') },
      { hermetic: true, unusedContexts: 'error' },
      [],
    ],
    [
      'frontend, ARG default and RUN --mount images all count',
      { file: 'app/Dockerfile.many' },
      { hermetic: true },
      'OCIKIT_FROM_UNRESOLVED',
    ],
    [
      'a --target that does not need the registry stage',
      { file: 'app/Dockerfile.target', target: 'release', buildContext: ctx('base') },
      { hermetic: true },
      [],
    ],
    [
      'the same Dockerfile built to the end: the last stage needs no pull either',
      { file: 'app/Dockerfile.target', buildContext: ctx('base') },
      { hermetic: true },
      [],
    ],
    [
      'the same Dockerfile with --target build',
      { file: 'app/Dockerfile.target', target: 'build', buildContext: ctx('base') },
      { hermetic: true },
      'OCIKIT_FROM_UNRESOLVED',
    ],
    [
      '--build-arg NAME takes its value from the environment',
      { file: 'app/Dockerfile.arg', buildArg: ['IMG'], buildContext: ctx('mine') },
      { hermetic: true, env: { IMG: 'mine' } },
      [],
    ],
    [
      'an invalid Dockerfile when checking',
      { file: 'app/Dockerfile.bad' },
      { hermetic: true },
      'OCIKIT_DOCKERFILE_INVALID',
    ],
    [
      'an invalid Dockerfile when not checking: a warning if there are contexts',
      { file: 'app/Dockerfile.bad', buildContext: ctx('a') },
      {},
      ['OCIKIT_W_DOCKERFILE_UNCHECKED'],
    ],
    [
      'a missing Dockerfile when checking',
      { file: 'app/nope' },
      { hermetic: true },
      'OCIKIT_INPUT_UNREADABLE',
    ],
    ['a missing Dockerfile otherwise', { file: 'app/nope', buildContext: ctx('a') }, {}, []],
    [
      'a Dockerfile from stdin when checking',
      { file: '-' },
      { unusedContexts: 'error' },
      'OCIKIT_USAGE',
    ],
    ['a Dockerfile from stdin otherwise', { file: '-' }, {}, []],
  ];
  for (const [name, flags, options, want] of cases) {
    const run = checkDockerfile(flags, 'app', { cwd: root, ...options });
    if (typeof want === 'string') await t.rejects(run, { code: want }, name);
    else
      t.same(
        (await run).warnings.map((w) => w.code),
        want,
        name,
      );
  }
  const remote = checkDockerfile({}, 'https://example.com/repo.git', { cwd: root, hermetic: true });
  await t.rejects(remote, { code: 'OCIKIT_USAGE', message: /remote context/ }, 'a remote context');

  const e = await refusal(
    checkDockerfile({ file: 'app/Dockerfile.many' }, 'app', { cwd: root, hermetic: true }),
  );
  t.match(e, {
    message: /app\/Dockerfile\.many makes the build pull 3 image\(s\)/,
    details: {
      dockerfile: 'app/Dockerfile.many',
      pulls: [
        { kind: 'syntax', name: 'docker/dockerfile:1', pull: 'docker.io/docker/dockerfile:1' },
        { kind: 'from', name: 'alpine:3', line: 3, pull: 'docker.io/library/alpine:3' },
        { kind: 'mount', name: 'golang:1', line: 4, pull: 'docker.io/library/golang:1' },
      ],
    },
  });
  t.match(e.message, /FROM alpine:\$V \(line 3, stage stage-0\) = alpine:3 for linux\/\S+ pulls/);
  const typo = await refusal(
    checkDockerfile({ buildContext: ctx('basee') }, 'app', { cwd: root, hermetic: true }),
  );
  t.match(
    typo.message,
    /FROM base \(line 1, stage stage-0\) pulls docker\.io\/library\/base:latest \(did you mean the context "basee"\?\)/,
  );
  t.match(typo.hint, /allow_pull = True/);
  const outside = await refusal(
    checkDockerfile({}, path.join(root, 'app'), {
      cwd: path.join(root, 'elsewhere'),
      hermetic: true,
    }),
  );
  t.match(
    outside.message,
    /^Dockerfile makes the build pull/,
    'a Dockerfile outside cwd is named from its context directory (the Bazel helper builds from a copy)',
  );
  const ok = await checkDockerfile({ buildContext: ctx('base') }, 'app', {
    cwd: root,
    hermetic: true,
  });
  t.equal(ok.dockerfile, 'app/Dockerfile');
  t.same(ok.sources?.pulls, []);
});

t.test('CLI: --hermetic refuses before anything is prepared or docker is run', async (t) => {
  const root = t.testdir({
    app: { Dockerfile: 'FROM base\nCOPY a /a\n', a: 'a\n' },
  });
  standardLayout(path.join(root, 'layout'));
  mkdirSync(path.join(root, 'tmp'));
  const calls = path.join(root, 'calls.jsonl');
  const env = {
    PATH: process.env['PATH'],
    HOME: root,
    FAKE_CALLS: calls,
    TMPDIR: path.join(root, 'tmp'),
  };
  const common = ['--build-context', 'basee=layout:multi', '--buildx-version', '0.29.1'];

  const args = await cli(
    ['buildx-args', '--hermetic', ...common, '--out', 'ctx', 'app'],
    root,
    env,
  );
  t.equal(args.code, 1, args.stderr);
  t.match(args.stderr, /ocikit: error OCIKIT_FROM_UNRESOLVED|OCIKIT_FROM_UNRESOLVED/);
  t.match(args.stderr, /did you mean the context "basee"/);
  t.notOk(existsSync(path.join(root, 'ctx')), 'no thin copy was made');

  const json = await cli(
    ['buildx-args', '--hermetic', '--json', ...common, '--out', 'ctx', 'app'],
    root,
    env,
  );
  t.equal(json.code, 1);
  t.match(JSON.parse(json.stdout), {
    error: { code: 'OCIKIT_FROM_UNRESOLVED', pulls: [{ kind: 'from', name: 'base' }] },
  });

  const build = await cli(
    ['build', '--hermetic', '--docker', FAKE, ...common, '--out', 'result', 'app'],
    root,
    env,
  );
  t.equal(build.code, 1, build.stderr);
  t.match(build.stderr, /OCIKIT_FROM_UNRESOLVED/);
  t.notOk(existsSync(calls), 'docker was never run (not even buildx inspect)');
  t.notOk(existsSync(path.join(root, 'result')), 'no output');

  const unused = await cli(
    ['build', '--unused-context', 'error', '--docker', FAKE, ...common, '--out', 'result', 'app'],
    root,
    env,
  );
  t.equal(unused.code, 1);
  t.match(
    unused.stderr,
    /OCIKIT_CONTEXT_UNUSED: build context "basee" is not used by app\/Dockerfile/,
  );
  t.notOk(existsSync(calls), 'docker was never run');

  // Without --hermetic: the plan is printed, the unused context warned about, the pull listed.
  const plain = await cli(['buildx-args', '--json', ...common, '--out', 'ctx2', 'app'], root, env);
  t.equal(plain.code, 0, plain.stderr);
  const doc = JSON.parse(plain.stdout) as { pulls: unknown; warnings: { code: string }[] };
  t.same(doc.pulls, [
    {
      kind: 'from',
      name: 'base',
      line: 1,
      stage: 'stage-0',
      pull: 'docker.io/library/base:latest',
    },
  ]);
  t.ok(doc.warnings.some((w) => w.code === 'OCIKIT_W_CONTEXT_UNUSED'));

  const fixed = await cli(
    [
      'buildx-args',
      '--hermetic',
      '--unused-context=error',
      '--json',
      '--build-context',
      'base=layout:multi',
      '--buildx-version',
      '0.29.1',
      '--out',
      'ctx3',
      'app',
    ],
    root,
    env,
  );
  t.equal(fixed.code, 0, fixed.stderr);
  t.same((JSON.parse(fixed.stdout) as { pulls: unknown }).pulls, []);
});
