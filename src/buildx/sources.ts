/**
 * What a Dockerfile makes BuildKit fetch, given the build's contexts, build arguments, target
 * and platforms: every image reference (`FROM`, `COPY --from`, `RUN --mount=…,from=`, the
 * `# syntax=` frontend) with how BuildKit's Dockerfile frontend resolves it
 * (frontend/dockerfile/dockerfile2llb convert.go, read at moby/buildkit 73ed6825c):
 *
 * - **ARGs before the first FROM** are the only variables of FROM lines: each takes its
 *   `--build-arg` value when one is given (declared ARGs only), else its default expanded with
 *   the ARGs before it; the platform ARGs (`TARGETPLATFORM`, `TARGETOS`, `TARGETARCH`,
 *   `TARGETVARIANT`, `BUILDPLATFORM`, `BUILDOS`, `BUILDARCH`, `BUILDVARIANT`, ...) and
 *   `TARGETSTAGE` are always there. A multi-platform build is evaluated once per platform.
 * - **FROM NAME** is an earlier stage when NAME (after expansion) equals an earlier stage's
 *   name; else `scratch` is the empty image; else a context whose name normalises to the same
 *   familiar name (src/buildx/image-name.ts) replaces the image; else it is pulled.
 * - **A stage whose name is a context** is replaced by that context: its FROM is not resolved.
 * - **COPY --from=X** and **RUN --mount=from=X** take a stage by name (any case) or, for COPY,
 *   by index; anything else is an image, resolved as FROM resolves it. Neither expands
 *   variables (BuildKit refuses them).
 * - **Only stages the target needs** (`--target`, else the last stage; through FROM, COPY
 *   --from, RUN --mount and the ONBUILD triggers of a stage used as a base) are resolved, so
 *   only their references can pull.
 * - **The `# syntax=` frontend** (or the `BUILDKIT_SYNTAX` build argument, which wins) is an
 *   image too: BuildKit pulls it and lets it parse the Dockerfile, unless a context of that
 *   name replaces it (BuildKit >= 0.12, moby/buildkit 3279d2620).
 *
 * Pure: no file system, no process.
 */
import {
  DockerfileSyntaxError,
  argWords,
  csvFields,
  detectSyntax,
  parseDockerfile,
  type Instruction,
} from './dockerfile.js';
import { contextKey, parseImageName } from './image-name.js';
import { WordError, expandWord } from './shell-word.js';
import { formatPlatform, normalizePlatform, parsePlatform } from '../layout/platform.js';

/** Where a reference appears. */
export type ReferenceKind = 'from' | 'copy' | 'mount' | 'syntax';

/** What BuildKit makes of a reference. */
export type Resolution = 'stage' | 'scratch' | 'context' | 'registry';

/** One image reference of the Dockerfile, as BuildKit resolves it. */
export interface ImageReference {
  kind: ReferenceKind;
  /** As written (`${BASE}`, `docker/dockerfile:1`). */
  written: string;
  /** After ARG expansion: what BuildKit looks up. */
  name: string;
  /** 1-based line of the instruction (or the directive). */
  line: number;
  /** The stage it is in: its name, else `stage-N` (0-based, as BuildKit counts). Absent for `syntax`. */
  stage?: string;
  resolution: Resolution;
  /** The `--build-context` name that provides it (resolution `context`), as given. */
  context?: string;
  /** What a registry is asked for (resolution `registry`), e.g. `docker.io/library/base:latest`. */
  pull?: string;
  /** Whether the target needs it (always true for `syntax`). */
  reachable: boolean;
  /** The target platforms it was found for (ARGs may make FROM names differ per platform). */
  platforms: string[];
}

/** A stage of the Dockerfile. */
export interface StageSummary {
  /** Its name (lower case), else `stage-N`. */
  name: string;
  line: number;
  /** The context that replaces the whole stage, as given. */
  replacedBy?: string;
}

/** What a Dockerfile fetches. */
export interface DockerfileSources {
  references: ImageReference[];
  stages: StageSummary[];
  /** The stage built (`--target`, else the last). */
  target: string;
  /** References a registry is asked for: reachable, resolution `registry`. */
  pulls: ImageReference[];
  /** Contexts no reference of the Dockerfile names (as given). */
  unusedContexts: string[];
}

/** Inputs of {@link dockerfileSources}. */
export interface SourcesOptions {
  /** `--build-arg` values. */
  buildArgs?: Readonly<Record<string, string>>;
  /** `--build-context` names, as given. */
  contexts?: readonly string[];
  /** Target platforms (`os/arch[/variant]`); default: the build platform. */
  platforms?: readonly string[];
  /** The builder's platform (BUILDPLATFORM; the default target platform). Default linux/amd64. */
  buildPlatform?: string;
  /** `--target`. */
  target?: string;
}

interface Stage {
  index: number;
  name: string | undefined;
  base: string;
  line: number;
  platformFlag: string | undefined;
  commands: Instruction[];
}

/** A source reference before resolution: a stage index, or an image name. */
interface Dep {
  kind: ReferenceKind;
  written: string;
  line: number;
  stage: number | string;
}

const STAGE_NAME = /^[a-z][a-z0-9-_.]*$/;
const SCRATCH = 'scratch';

function fail(message: string, line: number): never {
  throw new DockerfileSyntaxError(message, line);
}

function platformArgs(target: string, build: string): Map<string, string> {
  const env = new Map<string, string>();
  const add = (prefix: string, value: string): void => {
    const p = normalizePlatform(parsePlatform(value));
    env.set(`${prefix}PLATFORM`, formatPlatform(p));
    env.set(`${prefix}OS`, p.os);
    env.set(`${prefix}OSVERSION`, '');
    env.set(`${prefix}ARCH`, p.architecture);
    env.set(`${prefix}VARIANT`, p.variant ?? '');
  };
  add('BUILD', build);
  add('TARGET', target);
  return env;
}

function expand(
  word: string,
  env: ReadonlyMap<string, string>,
  escape: string,
  line: number,
): string {
  try {
    return expandWord(word, env, escape).value;
  } catch (e) {
    if (e instanceof WordError)
      fail(`failed to process ${JSON.stringify(word)}: ${e.message}`, line);
    throw e;
  }
}

/** Split the instructions into meta ARGs and stages, checking FROM's grammar. */
function stagesOf(instructions: readonly Instruction[]): { meta: Instruction[]; stages: Stage[] } {
  const meta: Instruction[] = [];
  const stages: Stage[] = [];
  for (const ins of instructions) {
    if (ins.keyword !== 'from') {
      const current = stages[stages.length - 1];
      if (current !== undefined) current.commands.push(ins);
      else if (ins.keyword === 'arg') meta.push(ins);
      else
        fail(
          `${ins.keyword.toUpperCase()} before the first FROM: only ARG may come before it`,
          ins.line,
        );
      continue;
    }
    let platformFlag: string | undefined;
    for (const f of ins.flags) {
      const [flag, value] = f.split(/=(.*)/s) as [string, string | undefined];
      if (flag !== '--platform') fail(`unknown flag: ${flag}`, ins.line);
      if (value === undefined) fail(`missing a value on flag: ${flag}`, ins.line);
      if (platformFlag !== undefined) fail(`duplicate flag specified: ${flag}`, ins.line);
      platformFlag = value;
    }
    const args = ins.args === '' ? [] : ins.args.split(/[\t\v\f\r ]+/);
    let name: string | undefined;
    if (args.length === 3 && (args[1] as string).toLowerCase() === 'as') {
      name = (args[2] as string).toLowerCase();
      if (!STAGE_NAME.test(name))
        fail(
          `invalid name for build stage: ${JSON.stringify(args[2])}, name can't start with a number or contain symbols`,
          ins.line,
        );
    } else if (args.length !== 1) {
      fail('FROM requires either one or three arguments', ins.line);
    }
    stages.push({
      index: stages.length,
      name,
      base: args[0] as string,
      line: ins.line,
      platformFlag,
      commands: [],
    });
  }
  if (stages.length === 0) fail('the Dockerfile has no FROM: there is no stage to build', 1);
  return { meta, stages };
}

/** The value of a string flag (`--from=x`), refusing repeats as BuildKit does. */
function stringFlag(ins: Instruction, name: string): string | undefined {
  let value: string | undefined;
  for (const f of ins.flags) {
    const eq = f.indexOf('=');
    const flag = eq < 0 ? f : f.slice(0, eq);
    if (flag !== `--${name}`) continue;
    if (eq < 0) fail(`missing a value on flag: ${flag}`, ins.line);
    if (value !== undefined) fail(`duplicate flag specified: ${flag}`, ins.line);
    value = f.slice(eq + 1);
  }
  return value;
}

/** COPY --from and RUN --mount=…from= of one instruction (an ONBUILD trigger included). */
function depsOf(ins: Instruction, stageIndex: number): Dep[] {
  const deps: Dep[] = [];
  if (ins.keyword === 'copy') {
    const from = stringFlag(ins, 'from');
    if (from !== undefined && from !== '') {
      if (from.includes('$'))
        fail(
          `COPY --from=${from}: variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround`,
          ins.line,
        );
      deps.push({ kind: 'copy', written: from, line: ins.line, stage: stageIndex });
    }
  }
  if (ins.keyword === 'run') {
    for (const f of ins.flags) {
      if (!f.startsWith('--mount=')) continue;
      for (const field of csvFields(f.slice('--mount='.length), ins.line)) {
        const eq = field.indexOf('=');
        if (eq < 0 || field.slice(0, eq).toLowerCase() !== 'from') continue;
        const from = field.slice(eq + 1);
        const dollar = from.indexOf('$');
        if (dollar !== -1 && dollar !== from.length - 1)
          fail(`'from' doesn't support variable expansion, define alias stage instead`, ins.line);
        if (from !== '')
          deps.push({ kind: 'mount', written: from, line: ins.line, stage: stageIndex });
      }
    }
  }
  return deps;
}

interface Evaluation {
  refs: ImageReference[];
  replaced: Map<number, string>;
  target: string;
}

/** One pass for one target platform. */
function evaluate(
  parsed: { meta: Instruction[]; stages: Stage[]; escape: string },
  options: SourcesOptions,
  targetPlatform: string,
  contexts: ReadonlyMap<string, string>,
): Evaluation {
  const { meta, stages, escape } = parsed;
  const buildArgs = options.buildArgs ?? {};
  const last = stages[stages.length - 1] as Stage;
  const env = platformArgs(targetPlatform, options.buildPlatform ?? 'linux/amd64');
  env.set('TARGETSTAGE', options.target || last.name || 'default');
  for (const [k, v] of Object.entries(buildArgs)) if (env.has(k)) env.set(k, v);
  for (const ins of meta) {
    for (const word of argWords(ins.args, escape)) {
      const eq = word.indexOf('=');
      const key = eq < 0 ? word : word.slice(0, eq);
      if (key === '') fail('ARG names can not be blank', ins.line);
      const given = buildArgs[key];
      if (given !== undefined) env.set(key, given);
      else if (eq >= 0) env.set(key, expand(word.slice(eq + 1), env, escape, ins.line));
    }
  }

  const label = (s: Stage): string => s.name ?? `stage-${s.index}`;
  const byName = new Map<string, Stage>();
  // As BuildKit's map of stage names: a later stage of the same name wins.
  for (const s of stages) if (s.name !== undefined) byName.set(s.name, s);
  const refs: ImageReference[] = [];
  const replaced = new Map<number, string>();
  /** Per stage: its base stage, or undefined. */
  const baseOf = new Map<number, Stage>();
  /** Per stage: the stages and image references it depends on. */
  const deps = new Map<number, { stages: Set<number>; images: ImageReference[] }>();

  const image = (d: Omit<Dep, 'stage'> & { stage: string }, name: string): ImageReference => {
    const ref: ImageReference = {
      kind: d.kind,
      written: d.written,
      name,
      line: d.line,
      stage: d.stage,
      resolution: 'registry',
      reachable: false,
      platforms: [targetPlatform],
    };
    if (name === SCRATCH) return { ...ref, resolution: 'scratch' };
    const parsedName = parseImageName(name);
    if ('error' in parsedName)
      fail(
        `${JSON.stringify(name)} cannot be a ${d.kind === 'from' ? 'base image' : 'source'}: ${parsedName.error}`,
        d.line,
      );
    const context = contexts.get(parsedName.familiar);
    if (context !== undefined) return { ...ref, resolution: 'context', context };
    return { ...ref, pull: parsedName.full };
  };

  const seen = new Map<string, Stage>();
  for (const s of stages) {
    const d = { stages: new Set<number>(), images: [] as ImageReference[] };
    deps.set(s.index, d);
    const name = expand(s.base, env, escape, s.line);
    if (name === '') fail(`base name (${s.base}) should not be blank`, s.line);
    if (s.platformFlag !== undefined) {
      const p = expand(s.platformFlag, env, escape, s.line);
      if (p === '') fail(`empty platform value from expression ${s.platformFlag}`, s.line);
    }
    const replacedBy = s.name === undefined ? undefined : contexts.get(contextKey(s.name) ?? '');
    const from: Dep = { kind: 'from', written: s.base, line: s.line, stage: label(s) };
    if (replacedBy !== undefined) {
      replaced.set(s.index, replacedBy);
    } else if (seen.has(name)) {
      baseOf.set(s.index, seen.get(name) as Stage);
      refs.push({
        ...from,
        stage: label(s),
        name,
        resolution: 'stage',
        reachable: false,
        platforms: [targetPlatform],
      });
    } else {
      const ref = image({ ...from, stage: label(s) }, name);
      refs.push(ref);
      d.images.push(ref);
    }
    if (s.name !== undefined) seen.set(s.name, s);
  }

  for (const s of stages) {
    const d = deps.get(s.index) as { stages: Set<number>; images: ImageReference[] };
    const base = baseOf.get(s.index);
    const triggers = (base?.commands ?? []).flatMap((c) =>
      c.keyword === 'onbuild' && c.trigger !== undefined ? [c.trigger] : [],
    );
    for (const ins of [...s.commands, ...triggers]) {
      for (const dep of depsOf(ins, s.index)) {
        let target: Stage | undefined;
        if (dep.kind === 'copy' && /^[+-]?\d+$/.test(dep.written)) {
          target = stages[Number(dep.written)];
          if (target === undefined) fail(`invalid stage index ${dep.written}`, dep.line);
        } else {
          target = byName.get(dep.written.toLowerCase());
        }
        if (target !== undefined) {
          d.stages.add(target.index);
          refs.push({
            kind: dep.kind,
            written: dep.written,
            name: dep.written,
            line: dep.line,
            stage: label(s),
            resolution: 'stage',
            reachable: false,
            platforms: [targetPlatform],
          });
        } else {
          const ref = image({ ...dep, stage: label(s) }, dep.written);
          refs.push(ref);
          d.images.push(ref);
        }
      }
    }
    if (base !== undefined) d.stages.add(base.index);
  }

  let target = last;
  if (options.target !== undefined && options.target !== '') {
    const t = byName.get(options.target.toLowerCase());
    if (t === undefined)
      fail(`target stage ${JSON.stringify(options.target)} could not be found`, 0);
    target = t;
  }
  const reachable = new Set<number>();
  const visit = (i: number): void => {
    if (reachable.has(i)) return;
    reachable.add(i);
    for (const j of deps.get(i)?.stages ?? []) visit(j);
  };
  visit(target.index);
  for (const i of reachable) {
    const d = deps.get(i);
    for (const ref of d?.images ?? []) ref.reachable = true;
  }
  for (const ref of refs) {
    if (ref.resolution === 'stage') {
      const owner = stages.find((s) => label(s) === ref.stage);
      if (owner !== undefined && reachable.has(owner.index)) ref.reachable = true;
    }
  }
  // A stage replaced by a context: its FROM is the context (counted as a use of it).
  for (const [i, context] of replaced) {
    const s = stages[i] as Stage;
    refs.push({
      kind: 'from',
      written: s.base,
      name: s.name as string,
      line: s.line,
      stage: label(s),
      resolution: 'context',
      context,
      reachable: reachable.has(i),
      platforms: [targetPlatform],
    });
  }
  return { refs, replaced, target: label(target) };
}

/**
 * Every image reference of a Dockerfile and how BuildKit resolves it (see the module doc).
 * @throws DockerfileSyntaxError where BuildKit would refuse the Dockerfile (a bad FROM, an
 *   unknown target, a variable in `--from`, an expansion error, an invalid image name)
 */
export function dockerfileSources(text: string, options: SourcesOptions = {}): DockerfileSources {
  const parsed = parseDockerfile(text);
  const { meta, stages } = stagesOf(parsed.instructions);
  const contexts = new Map<string, string>();
  for (const c of options.contexts ?? []) {
    const key = contextKey(c);
    if (key !== undefined && !contexts.has(key)) contexts.set(key, c);
  }
  const buildPlatform = options.buildPlatform ?? 'linux/amd64';
  const platforms =
    options.platforms !== undefined && options.platforms.length > 0
      ? [
          ...new Set(
            options.platforms.map((p) => formatPlatform(normalizePlatform(parsePlatform(p)))),
          ),
        ]
      : [formatPlatform(normalizePlatform(parsePlatform(buildPlatform)))];

  const merged = new Map<string, ImageReference>();
  let target = '';
  const replacedBy = new Map<number, string>();
  for (const platform of platforms) {
    const e = evaluate({ meta, stages, escape: parsed.escape }, options, platform, contexts);
    target = e.target;
    for (const [i, c] of e.replaced) replacedBy.set(i, c);
    for (const ref of e.refs) {
      const key = JSON.stringify([ref.kind, ref.line, ref.stage, ref.name, ref.resolution]);
      const prev = merged.get(key);
      if (prev === undefined) merged.set(key, ref);
      else {
        prev.reachable = prev.reachable || ref.reachable;
        prev.platforms.push(platform);
      }
    }
  }

  const frontend = frontendImage(text, options.buildArgs ?? {});
  if (frontend !== undefined) {
    const name = parseImageName(frontend.image);
    const ref: ImageReference = {
      kind: 'syntax',
      written: frontend.image,
      name: frontend.image,
      line: frontend.line,
      resolution: 'registry',
      reachable: true,
      platforms,
    };
    const context = 'error' in name ? undefined : contexts.get(name.familiar);
    if (context !== undefined) Object.assign(ref, { resolution: 'context', context });
    else ref.pull = 'error' in name ? frontend.image : name.full;
    merged.set('syntax', ref);
  }

  const references = [...merged.values()].sort(
    (a, b) => a.line - b.line || a.kind.localeCompare(b.kind) || a.name.localeCompare(b.name),
  );
  const used = new Set(references.flatMap((r) => (r.context === undefined ? [] : [r.context])));
  return {
    references,
    stages: stages.map((s) => {
      const summary: StageSummary = { name: s.name ?? `stage-${s.index}`, line: s.line };
      const by = replacedBy.get(s.index);
      if (by !== undefined) summary.replacedBy = by;
      return summary;
    }),
    target,
    pulls: references.filter((r) => r.resolution === 'registry' && r.reachable),
    unusedContexts: (options.contexts ?? []).filter((c) => !used.has(c)),
  };
}

/** The frontend image: `BUILDKIT_SYNTAX` (first word) over the `# syntax=` directive. */
function frontendImage(
  text: string,
  buildArgs: Readonly<Record<string, string>>,
): { image: string; line: number } | undefined {
  const arg = buildArgs['BUILDKIT_SYNTAX'];
  if (arg !== undefined) {
    const image = arg.trim().split(' ')[0] ?? '';
    return image === '' ? undefined : { image, line: 0 };
  }
  return detectSyntax(text);
}
