/**
 * Dockerfiles as BuildKit reads them (src/buildx/dockerfile.ts, shell-word.ts, image-name.ts,
 * sources.ts), in-process tables: image names and the context they match, word expansion, the
 * parser's lines (directives, continuations, comments, heredocs, flags, case), and which images
 * a build fetches (stages, scratch, contexts, ARGs before FROM, platforms, targets, COPY --from,
 * RUN --mount, ONBUILD, # syntax=). Expectations are written out from BuildKit's behaviour
 * (sources named in the modules), not derived from the code.
 */
import t from 'tap';
import { contextKey, parseImageName } from '../src/buildx/image-name.js';
import { WordError, expandWord } from '../src/buildx/shell-word.js';
import {
  DockerfileSyntaxError,
  argWords,
  csvFields,
  detectSyntax,
  parseDockerfile,
} from '../src/buildx/dockerfile.js';
import { dockerfileSources, type SourcesOptions } from '../src/buildx/sources.js';

t.test(
  'image names: familiar name (what contexts match) and full name (what is pulled)',
  async (t) => {
    const table: [string, string, string][] = [
      ['alpine', 'alpine', 'docker.io/library/alpine:latest'],
      ['alpine:latest', 'alpine', 'docker.io/library/alpine:latest'],
      ['library/alpine', 'alpine', 'docker.io/library/alpine:latest'],
      ['docker.io/library/alpine:latest', 'alpine', 'docker.io/library/alpine:latest'],
      ['index.docker.io/library/alpine', 'alpine', 'docker.io/library/alpine:latest'],
      ['alpine:3.20', 'alpine:3.20', 'docker.io/library/alpine:3.20'],
      ['docker.io/foo/bar', 'foo/bar', 'docker.io/foo/bar:latest'],
      ['foo/bar/baz:1', 'foo/bar/baz:1', 'docker.io/foo/bar/baz:1'],
      ['docker.io/library/a/b', 'library/a/b', 'docker.io/library/a/b:latest'],
      ['example.com/app:1.0', 'example.com/app:1.0', 'example.com/app:1.0'],
      ['localhost/app', 'localhost/app', 'localhost/app:latest'],
      ['localhost:5000/team/app:v1', 'localhost:5000/team/app:v1', 'localhost:5000/team/app:v1'],
      ['Registry/app', 'Registry/app', 'Registry/app:latest'],
      ['[::1]:5000/app', '[::1]:5000/app', '[::1]:5000/app:latest'],
      ['base', 'base', 'docker.io/library/base:latest'],
      ['my_base.v-2', 'my_base.v-2', 'docker.io/library/my_base.v-2:latest'],
      [
        `alpine@sha256:${'a'.repeat(64)}`,
        `alpine@sha256:${'a'.repeat(64)}`,
        `docker.io/library/alpine@sha256:${'a'.repeat(64)}`,
      ],
      [
        `alpine:latest@sha256:${'b'.repeat(64)}`,
        `alpine:latest@sha256:${'b'.repeat(64)}`,
        `docker.io/library/alpine:latest@sha256:${'b'.repeat(64)}`,
      ],
      ['docker/dockerfile:1', 'docker/dockerfile:1', 'docker.io/docker/dockerfile:1'],
    ];
    for (const [value, familiar, full] of table)
      t.same(parseImageName(value), { familiar, full }, value);
    const bad: [string, RegExp][] = [
      ['Base', /must be lower case/],
      ['base:', /not a valid image reference/],
      ['a b', /not a valid image reference/],
      ['-base', /not a valid image reference/],
      ['base__', /not a valid image reference/],
      [`${'a'.repeat(64)}`, /image ID/],
      [`alpine@sha256:${'a'.repeat(63)}`, /not a valid image reference|digest/],
      [`alpine@md5:${'a'.repeat(32)}`, /digest/],
      [`${'a'.repeat(250)}/bbbbbb`, /longer than 255/],
      ['base:-tag', /not a valid image reference/],
    ];
    for (const [value, why] of bad) {
      const r = parseImageName(value);
      t.ok(
        'error' in r && why.test(r.error),
        `${value}: refused (${'error' in r ? r.error : 'accepted'})`,
      );
    }
    t.equal(contextKey('docker.io/library/base:latest'), 'base');
    t.equal(contextKey('Base'), undefined, 'a name buildx refuses matches nothing');
  },
);

t.test('word expansion: quotes, escapes and every substitution form', async (t) => {
  const env = new Map([
    ['A', 'alpine'],
    ['EMPTY', ''],
    ['V', '1.2.3'],
    ['P', 'docker.io/library/x:1'],
    ['ARCH', 'arm64'],
  ]);
  const table: [string, string, string?][] = [
    ['plain', 'plain'],
    ['$A', 'alpine'],
    ['${A}', 'alpine'],
    ['${A}:3', 'alpine:3'],
    ['$A-$ARCH', 'alpine-arm64'],
    ['$UNSET', ''],
    ['x$', 'x$'],
    ['$1x', 'x'],
    ['$@', ''],
    ['"$A"', 'alpine'],
    ["'$A'", '$A'],
    ['"a\\"b"', 'a"b'],
    ['"a\\$A"', 'a$A'],
    ['"a\\b"', 'a\\b'],
    ['a\\$A', 'a$A'],
    ['a\\', 'a'],
    ['a`$A', 'a$A', '`'],
    ['${UNSET:-base}', 'base'],
    ['${UNSET-base}', 'base'],
    ['${EMPTY:-base}', 'base'],
    ['${EMPTY-base}', ''],
    ['${A:-base}', 'alpine'],
    ['${UNSET:-$A}', 'alpine'],
    ['${UNSET:-"q u"}', 'q u'],
    ['${A:+set}', 'set'],
    ['${EMPTY:+set}', ''],
    ['${EMPTY+set}', 'set'],
    ['${UNSET+set}', ''],
    ['${A:?must}', 'alpine'],
    ['${V#*.}', '2.3'],
    ['${V##*.}', '3'],
    ['${V%.*}', '1.2'],
    ['${V%%.*}', '1'],
    ['${P#docker.io/}', 'library/x:1'],
    ['${P##*/}', 'x:1'],
    ['${A/p/P}', 'alPine'],
    ['${V//./-}', '1-2-3'],
    ['${V/?/X}', 'X.2.3'],
    ['${A/zzz/X}', 'alpine'],
  ];
  for (const [word, want, escape] of table)
    t.equal(expandWord(word, env, escape).value, want, `${word} -> ${want}`);
  t.same(expandWord('${X:-y}$Z', env).unset.sort(), ['X', 'Z'], 'unset names reported');
  const bad: [string, RegExp][] = [
    ['${A', /missing '}'/],
    ['${', /missing '}'/],
    ['${}', /bad substitution/],
    ['${:-x}', /bad substitution/],
    ['${A:x}', /unsupported modifier \(:x\)/],
    ['${A^}', /unsupported modifier/],
    ['${A:#x}', /unsupported modifier \(:#\)/],
    ['${UNSET:?must be set}', /UNSET: must be set/],
    ['${UNSET?}', /UNSET: is not allowed to be unset/],
    ['${EMPTY:?}', /EMPTY: is not allowed to be empty/],
    ["'open", /matching single-quote/],
    ['"open', /matching double-quote/],
    ['${A/x', /missing '\/'/],
    ['${V#\\a}', /invalid escape/],
  ];
  for (const [word, why] of bad)
    t.throws(() => expandWord(word, env), { constructor: WordError, message: why }, word);
});

t.test('parser: directives, comments, continuations, heredocs, flags and case', async (t) => {
  const p = parseDockerfile(
    [
      '\uFEFF# syntax=docker/dockerfile:1.7',
      '# escape=`',
      '# a comment ends the directives',
      '# check=skip=all',
      'from --platform=$BUILDPLATFORM base `',
      '  # a comment inside the continuation',
      '',
      '    AS build',
      'RUN <<EOF',
      'FROM not-an-instruction',
      'EOF',
      'COPY <<-"END" /x',
      '\tFROM also-not',
      '\tEND',
      'ONBUILD COPY --from=helper / /',
      'run --mount=type=bind,from=tools,target=/t `',
      '  true',
      'Copy --from="quoted" --chmod=644 a b',
    ].join('\r\n'),
  );
  t.same(
    p.directives.map((d) => [d.name, d.value, d.line]),
    [
      ['syntax', 'docker/dockerfile:1.7', 1],
      ['escape', '`', 2],
    ],
    'directives stop at the first other comment',
  );
  t.equal(p.escape, '`');
  t.same(
    p.instructions.map((i) => [i.keyword, i.flags, i.args, i.line, i.endLine]),
    [
      ['from', ['--platform=$BUILDPLATFORM'], 'base     AS build', 5, 8],
      ['run', [], '<<EOF', 9, 11],
      ['copy', [], '<<-"END" /x', 12, 14],
      ['onbuild', [], 'COPY --from=helper / /', 15, 15],
      ['run', ['--mount=type=bind,from=tools,target=/t'], 'true', 16, 17],
      ['copy', ['--from=quoted', '--chmod=644'], 'a b', 18, 18],
    ],
  );
  t.same(p.instructions[3]?.trigger?.keyword, 'copy', 'ONBUILD trigger parsed');
  t.same(p.instructions[3]?.trigger?.flags, ['--from=helper']);

  const cases: [string, string, [string, string][]][] = [
    [
      'backslash continuation',
      'FROM a\\\n  AS b\nRUN x',
      [
        ['from', 'a  AS b'],
        ['run', 'x'],
      ],
    ],
    ['continuation at end of file', 'FROM a \\', [['from', 'a']]],
    [
      'escaped escape is no continuation',
      'FROM a\nRUN echo \\\\\nRUN b',
      [
        ['from', 'a'],
        ['run', 'echo \\\\'],
        ['run', 'b'],
      ],
    ],
    [
      'lone continuation line',
      'FROM a\nRUN x \\\n\\\n  y',
      [
        ['from', 'a'],
        ['run', 'x   y'],
      ],
    ],
    [
      'indented comment',
      'FROM a\n   # FROM b\nRUN x',
      [
        ['from', 'a'],
        ['run', 'x'],
      ],
    ],
    [
      'comment is not continued',
      'FROM a\n# FROM b \\\nFROM c',
      [
        ['from', 'a'],
        ['from', 'c'],
      ],
    ],
    ['tabs and spaces', '\tFROM\t a \t', [['from', 'a']]],
    [
      'json run keeps <<',
      'FROM a\nRUN ["sh", "-c", "cat <<EOF"]\nFROM b',
      [
        ['from', 'a'],
        ['run', '["sh", "-c", "cat <<EOF"]'],
        ['from', 'b'],
      ],
    ],
    [
      'two heredocs',
      'FROM a\nRUN <<A cat - <<B\na\nA\nb\nB\nFROM c',
      [
        ['from', 'a'],
        ['run', '<<A cat - <<B'],
        ['from', 'c'],
      ],
    ],
    [
      'heredoc with a space',
      'FROM a\nCOPY << EOF /f\nFROM x\nEOF\nFROM c',
      [
        ['from', 'a'],
        ['copy', '<< EOF /f'],
        ['from', 'c'],
      ],
    ],
    [
      '<< in a quoted word is no heredoc',
      "FROM a\nRUN echo '<<EOF'\nFROM c",
      [
        ['from', 'a'],
        ['run', "echo '<<EOF'"],
        ['from', 'c'],
      ],
    ],
    [
      'heredoc in ONBUILD',
      'FROM a\nONBUILD RUN <<EOF\nFROM x\nEOF\nFROM c',
      [
        ['from', 'a'],
        ['onbuild', 'RUN <<EOF'],
        ['from', 'c'],
      ],
    ],
    [
      'heredoc in other instructions is text',
      'FROM a\nLABEL x=<<EOF\nFROM c',
      [
        ['from', 'a'],
        ['label', 'x=<<EOF'],
        ['from', 'c'],
      ],
    ],
    [
      'flag ends at --',
      'FROM a\nCOPY --chmod=1 -- --from=x b',
      [
        ['from', 'a'],
        ['copy', '--from=x b'],
      ],
    ],
    [
      'directive after an instruction is a comment',
      'FROM a\n# syntax=x\nRUN y',
      [
        ['from', 'a'],
        ['run', 'y'],
      ],
    ],
  ];
  for (const [name, text, want] of cases)
    t.same(
      parseDockerfile(text).instructions.map((i) => [i.keyword, i.args]),
      want,
      name,
    );
  t.same(
    parseDockerfile('# syntax=a\n\n# escape=`\nFROM a').escape,
    '\\',
    'a blank line ends directives',
  );
  t.same(
    parseDockerfile('  # escape=`\nFROM a `\n b').instructions[0]?.args,
    'a  b',
    'leading blanks before a directive',
  );

  const bad: [string, RegExp][] = [
    ['# syntax=a\n# syntax=b\nFROM x', /only one syntax parser directive/],
    ['# escape=x\nFROM a', /invalid escape token/],
    ['FROM a\nRUN <<EOF\nnever closed', /unterminated heredoc/],
    ['# only a comment\n\n', /no instructions/],
  ];
  for (const [text, why] of bad)
    t.throws(
      () => parseDockerfile(text),
      { constructor: DockerfileSyntaxError, message: why },
      why.source,
    );

  t.same(argWords('A=1 B="two words" C=\'x y\' D', '\\'), ['A=1', 'B="two words"', "C='x y'", 'D']);
  t.same(argWords('A=a\\ b', '\\'), ['A=a\\ b']);
  t.same(csvFields('type=bind,"from=a,b",target=/x', 1), ['type=bind', 'from=a,b', 'target=/x']);
  t.same(csvFields('"a""b",c', 1), ['a"b', 'c']);
  t.throws(() => csvFields('"open', 3), {
    constructor: DockerfileSyntaxError,
    message: /quoted-field/,
    line: 3,
  });
});

t.test('# syntax= detection as the frontend does it', async (t) => {
  const table: [string, { image: string; line: number } | undefined][] = [
    ['# syntax=docker/dockerfile:1\nFROM a', { image: 'docker/dockerfile:1', line: 1 }],
    ['#syntax = docker/dockerfile:1.7 --opt\nFROM a', { image: 'docker/dockerfile:1.7', line: 1 }],
    ['# SYNTAX=x/y\nFROM a', { image: 'x/y', line: 1 }],
    ['#!/usr/bin/env buildctl\n# syntax=x/y\nFROM a', { image: 'x/y', line: 2 }],
    ['# check=skip=all\n# syntax=x/y\nFROM a', { image: 'x/y', line: 2 }],
    ['// syntax=x/y\nFROM a', { image: 'x/y', line: 1 }],
    ['{"syntax": "x/y"}', { image: 'x/y', line: 1 }],
    ['# hello\n# syntax=x/y\nFROM a', undefined],
    ['FROM a\n# syntax=x/y', undefined],
    ['  # syntax=x/y\nFROM a', undefined],
    ['\n# syntax=x/y\nFROM a', undefined],
  ];
  for (const [text, want] of table) t.same(detectSyntax(text), want, JSON.stringify(text));
});

/** name -> resolution (and context / pull) of the reachable references, for the tables. */
function summary(text: string, options: SourcesOptions = {}): string[] {
  return dockerfileSources(text, options).references.map(
    (r) =>
      `${r.kind} ${r.name}@${r.line}: ${r.resolution}${r.context !== undefined ? `=${r.context}` : ''}${r.pull !== undefined ? `=${r.pull}` : ''}${r.reachable ? '' : ' (unreachable)'}`,
  );
}

t.test('sources: what each reference resolves to', async (t) => {
  type Case = [string, string, SourcesOptions, string[]];
  const cases: Case[] = [
    [
      'a context replaces the image',
      'FROM base\nCOPY a /a',
      { contexts: ['base'] },
      ['from base@1: context=base'],
    ],
    [
      'a typo in the context name: pulled',
      'FROM base',
      { contexts: ['basee'] },
      ['from base@1: registry=docker.io/library/base:latest'],
    ],
    [
      'normalised names match',
      'FROM docker.io/library/alpine:latest\nFROM alpine\nFROM library/alpine:3',
      { contexts: ['alpine', 'docker.io/library/alpine:3'] },
      [
        'from docker.io/library/alpine:latest@1: context=alpine (unreachable)',
        'from alpine@2: context=alpine (unreachable)',
        'from library/alpine:3@3: context=docker.io/library/alpine:3',
      ],
    ],
    [
      'scratch, and a context named scratch does not replace it',
      'FROM scratch\nCOPY a /a',
      { contexts: ['scratch'] },
      ['from scratch@1: scratch'],
    ],
    [
      'earlier stages, any case of AS',
      'FROM base AS Build\nFROM build as test\nfrom build',
      { contexts: ['base'] },
      ['from base@1: context=base', 'from build@2: stage (unreachable)', 'from build@3: stage'],
    ],
    [
      'a later stage is not a stage for FROM',
      'FROM later\nFROM scratch AS later',
      {},
      [
        'from later@1: registry=docker.io/library/later:latest (unreachable)',
        'from scratch@2: scratch',
      ],
    ],
    [
      'ARG defaults before the first FROM, ${} and $ forms',
      'ARG REG=example.com\nARG IMG=${REG}/app\nARG TAG\nFROM $IMG:${TAG:-1}',
      { contexts: ['example.com/app:1'] },
      ['from example.com/app:1@4: context=example.com/app:1'],
    ],
    [
      'a --build-arg overrides a declared ARG only',
      'ARG IMG=base\nFROM $IMG\nFROM ${OTHER:-scratch}',
      { buildArgs: { IMG: 'other', OTHER: 'x' }, contexts: ['other'] },
      ['from other@2: context=other (unreachable)', 'from scratch@3: scratch'],
    ],
    [
      'ARGs after the first FROM do not reach FROM',
      'FROM scratch AS a\nARG IMG=base\nFROM ${IMG:-fallback}',
      { contexts: ['fallback'] },
      ['from scratch@1: scratch (unreachable)', 'from fallback@3: context=fallback'],
    ],
    [
      'platform ARGs: one evaluation per target platform',
      'FROM base-$TARGETARCH',
      { platforms: ['linux/amd64', 'linux/arm64'], contexts: ['base-amd64'] },
      [
        'from base-amd64@1: context=base-amd64',
        'from base-arm64@1: registry=docker.io/library/base-arm64:latest',
      ],
    ],
    [
      'the default target platform is the build platform',
      'FROM base-${TARGETARCH}${TARGETVARIANT}\nFROM --platform=$BUILDPLATFORM tool-$BUILDOS',
      { buildPlatform: 'linux/arm/v7', contexts: ['base-armv7', 'tool-linux'] },
      [
        'from base-armv7@1: context=base-armv7 (unreachable)',
        'from tool-linux@2: context=tool-linux',
      ],
    ],
    [
      'TARGETSTAGE',
      'FROM img-$TARGETSTAGE AS one\nFROM img-${TARGETSTAGE} AS two',
      { target: 'one', contexts: ['img-one'] },
      ['from img-one@1: context=img-one', 'from img-one@2: context=img-one (unreachable)'],
    ],
    [
      'a stage named like a context is replaced: its FROM is not fetched',
      'FROM docker.io/library/debian AS base\nRUN apt-get update\nFROM base\nCOPY x /x',
      { contexts: ['base'] },
      ['from base@1: context=base', 'from base@3: stage'],
    ],
    [
      '--target: only the stages it needs',
      'FROM golang AS build\nFROM alpine AS test\nCOPY --from=build /x /x\nFROM debian AS release\nCOPY --from=build /x /x',
      { target: 'test', contexts: ['golang'] },
      [
        'from golang@1: context=golang',
        'from alpine@2: registry=docker.io/library/alpine:latest',
        'copy build@3: stage',
        'from debian@4: registry=docker.io/library/debian:latest (unreachable)',
        'copy build@5: stage (unreachable)',
      ],
    ],
    [
      'COPY --from: stage by name (any case) or index, else an image',
      'FROM scratch AS Tools\nFROM scratch\nCOPY --from=tools / /\nCOPY --from=0 / /\nCOPY --from=busybox:1 / /\nCOPY --from=ctx / /\nCOPY --from=scratch / /',
      { contexts: ['ctx'] },
      [
        'from scratch@1: scratch',
        'from scratch@2: scratch',
        'copy tools@3: stage',
        'copy 0@4: stage',
        'copy busybox:1@5: registry=docker.io/library/busybox:1',
        'copy ctx@6: context=ctx',
        'copy scratch@7: scratch',
      ],
    ],
    [
      'RUN --mount from: stage, context, image; mounts without from fetch nothing',
      'FROM scratch AS src\nFROM base\nRUN --mount=type=bind,from=src,target=/s --mount=type=cache,target=/c --mount=from=ctx,target=/x --mount="type=bind,FROM=golang:1.22" true',
      { contexts: ['base', 'ctx'] },
      [
        'from scratch@1: scratch',
        'from base@2: context=base',
        'mount ctx@3: context=ctx',
        'mount golang:1.22@3: registry=docker.io/library/golang:1.22',
        'mount src@3: stage',
      ],
    ],
    [
      'ONBUILD triggers of a base stage run in the stage built on it',
      'FROM scratch AS parent\nONBUILD COPY --from=helper / /\nFROM parent',
      { contexts: ['helper'] },
      ['from scratch@1: scratch', 'copy helper@2: context=helper', 'from parent@3: stage'],
    ],
    [
      'a COPY --from of a stage that only a replaced stage has is still resolved',
      'FROM x AS base\nCOPY --from=tool / /\nFROM base',
      { contexts: ['base'] },
      [
        'from base@1: context=base',
        'copy tool@2: registry=docker.io/library/tool:latest',
        'from base@3: stage',
      ],
    ],
    [
      '# syntax= is a frontend image',
      '# syntax=docker/dockerfile:1\nFROM base',
      { contexts: ['base'] },
      [
        'syntax docker/dockerfile:1@1: registry=docker.io/docker/dockerfile:1',
        'from base@2: context=base',
      ],
    ],
    [
      '# syntax= provided by a context',
      '# syntax=docker/dockerfile:1\nFROM scratch',
      { contexts: ['docker.io/docker/dockerfile:1'] },
      [
        'syntax docker/dockerfile:1@1: context=docker.io/docker/dockerfile:1',
        'from scratch@2: scratch',
      ],
    ],
    [
      'BUILDKIT_SYNTAX wins over the directive',
      '# syntax=docker/dockerfile:1\nFROM scratch',
      { buildArgs: { BUILDKIT_SYNTAX: 'example.com/frontend:2 --x' } },
      [
        'syntax example.com/frontend:2@0: registry=example.com/frontend:2',
        'from scratch@2: scratch',
      ],
    ],
    [
      'line continuation and case in FROM',
      'from \\\n  base \\\n  As app',
      { contexts: ['base'] },
      ['from base@1: context=base'],
    ],
  ];
  for (const [name, text, options, want] of cases) t.same(summary(text, options), want, name);
});

t.test('sources: pulls, unused contexts, stages and target', async (t) => {
  const s = dockerfileSources(
    '# syntax=docker/dockerfile:1\nFROM base AS build\nFROM golang AS unused\nFROM build\nCOPY --from=busybox / /',
    { contexts: ['base', 'basee', 'docker.io/library/golang:latest'] },
  );
  t.same(
    s.pulls.map((r) => r.pull),
    ['docker.io/docker/dockerfile:1', 'docker.io/library/busybox:latest'],
    'reachable registry references, syntax included; the unreachable stage is no pull',
  );
  t.same(s.unusedContexts, ['basee'], 'golang is used (by an unreachable stage), basee by nothing');
  t.same(s.stages, [
    { name: 'build', line: 2 },
    { name: 'unused', line: 3 },
    { name: 'stage-2', line: 4 },
  ]);
  t.equal(s.target, 'stage-2');
  const replaced = dockerfileSources('FROM debian AS base\nFROM base', { contexts: ['base'] });
  t.same(replaced.stages[0], { name: 'base', line: 1, replacedBy: 'base' });
  t.same(replaced.pulls, [], 'a replaced stage pulls nothing');
  t.same(
    dockerfileSources('FROM a', { contexts: ['a', 'docker.io/library/a'] }).unusedContexts,
    ['docker.io/library/a'],
    'two names for one context: buildx keeps one, the other is unused',
  );
});

t.test('sources: what BuildKit refuses is refused, with the line', async (t) => {
  const bad: [string, SourcesOptions, RegExp, number][] = [
    ['RUN x\nFROM a', {}, /RUN before the first FROM/, 1],
    ['ARG X', {}, /no FROM/, 1],
    ['FROM a b', {}, /one or three arguments/, 1],
    ['FROM a AS 1x', {}, /invalid name for build stage/, 1],
    ['FROM --foo=x a', {}, /unknown flag: --foo/, 1],
    ['FROM --platform a', {}, /missing a value/, 1],
    ['FROM $EMPTY', {}, /should not be blank/, 1],
    ['ARG X\nFROM ${X:?set-X}', {}, /X: set-X/, 2],
    ['ARG X\nFROM ${X:?set X}', {}, /one or three arguments/, 2],
    ['FROM scratch AS b\nFROM B', {}, /library\/B must be lower case/, 2],
    ['FROM ${X', {}, /missing '}'/, 1],
    ['FROM Base', {}, /must be lower case/, 1],
    ['FROM a\nCOPY --from=$X / /', {}, /variable expansion is not supported/, 2],
    ['FROM a\nCOPY --from=a --from=b / /', {}, /duplicate flag/, 2],
    ['FROM a\nCOPY --from=5 / /', {}, /invalid stage index 5/, 2],
    ['FROM a\nRUN --mount=from=$X,target=/x true', {}, /doesn't support variable expansion/, 2],
    ['FROM a', { target: 'nope' }, /target stage "nope" could not be found/, 0],
    ['FROM --platform=${P:-} a', {}, /empty platform value/, 1],
  ];
  for (const [text, options, why, line] of bad)
    t.throws(
      () => dockerfileSources(text, options),
      { constructor: DockerfileSyntaxError, message: why, line },
      why.source,
    );
});
