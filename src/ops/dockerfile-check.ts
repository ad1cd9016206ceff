/**
 * The Dockerfile check of `buildx-args` and `build`, before buildx runs: which images the
 * Dockerfile makes BuildKit fetch (src/buildx/sources.ts), given the flags of the build. With
 * `hermetic`, any image a registry would be asked for is an error naming each
 * (`OCIKIT_FROM_UNRESOLVED`); a context the Dockerfile never names is a warning, or an error
 * where asked for (`OCIKIT_CONTEXT_UNUSED`, what the Bazel rules ask for).
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { DockerfileSyntaxError } from '../buildx/dockerfile.js';
import type { BuildFlags } from '../buildx/flags.js';
import {
  dockerfileSources,
  type DockerfileSources,
  type ImageReference,
} from '../buildx/sources.js';
import { ErrorCode, OcikitError, errnoCode, quote } from '../errors.js';
import type { Warning } from '../layout/schema.js';

/** Options of {@link checkDockerfile}. */
export interface DockerfileCheckOptions {
  /** Where relative paths start. Default process.cwd(). */
  cwd?: string;
  /** Refuse every image a registry would be asked for (`OCIKIT_FROM_UNRESOLVED`). */
  hermetic?: boolean;
  /** A context the Dockerfile never names: `warn` (default) or `error` (`OCIKIT_CONTEXT_UNUSED`). */
  unusedContexts?: 'warn' | 'error';
  /** The environment `--build-arg NAME` (no value) reads, as buildx does. Default process.env. */
  env?: NodeJS.ProcessEnv;
  /** The builder's platform (BUILDPLATFORM, the default target). Default: this machine's. */
  buildPlatform?: string;
}

/** What {@link checkDockerfile} found. */
export interface DockerfileCheck {
  /** The Dockerfile, as the flags name it (relative to cwd when inside it). */
  dockerfile: string;
  /** Its references, or undefined when it could not be read (then nothing was checked). */
  sources?: DockerfileSources;
  warnings: Warning[];
}

const ARCH: Record<string, string> = {
  x64: 'amd64',
  arm64: 'arm64',
  arm: 'arm/v7',
  ia32: '386',
  ppc64: 'ppc64le',
  s390x: 's390x',
  riscv64: 'riscv64',
  loong64: 'loong64',
};

/** This machine's platform as BuildKit names it (`linux/amd64`). */
export function hostPlatform(): string {
  return `linux/${ARCH[process.arch] ?? process.arch}`;
}

const URL_CONTEXT = /^[a-z][a-z0-9+.-]*:\/\//;

/** `--build-arg K=V` as a map; `--build-arg K` takes K from the environment when set (buildx). */
function buildArgs(flags: BuildFlags, env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const a of flags.buildArg ?? []) {
    const eq = a.indexOf('=');
    if (eq >= 0) out[a.slice(0, eq)] = a.slice(eq + 1);
    else if (env[a] !== undefined) out[a] = env[a] as string;
  }
  return out;
}

/** Edit distance, for "did you mean" (small strings only). */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0] as number;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j] as number;
      row[j] = Math.min(
        cur + 1,
        (row[j - 1] as number) + 1,
        prev + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
      prev = cur;
    }
  }
  return row[b.length] as number;
}

function where(r: ImageReference): string {
  const what =
    r.kind === 'syntax'
      ? r.line === 0
        ? `the BUILDKIT_SYNTAX frontend ${r.name}`
        : `# syntax=${r.name} (line ${r.line}: the Dockerfile frontend)`
      : `${r.kind === 'from' ? 'FROM' : r.kind === 'copy' ? 'COPY --from=' : 'RUN --mount=from='}${r.kind === 'from' ? ' ' : ''}${r.written} (line ${r.line}, stage ${r.stage})`;
  const expanded = r.kind !== 'syntax' && r.written !== r.name ? ` = ${r.name}` : '';
  const platforms =
    r.platforms.length > 0 && r.written !== r.name ? ` for ${r.platforms.join(', ')}` : '';
  return `${what}${expanded}${platforms} pulls ${r.pull ?? r.name}`;
}

function unresolved(
  file: string,
  pulls: ImageReference[],
  s: DockerfileSources,
  contexts: string[],
): OcikitError {
  const lines = pulls.map((r) => {
    const near = s.unusedContexts.filter(
      (c) => distance(c, r.name) <= Math.max(1, Math.floor(r.name.length / 4)),
    );
    return `  ${where(r)}${near.length > 0 ? ` (did you mean the context ${near.map((c) => quote(c)).join(' or ')}?)` : ''}`;
  });
  const frontend = pulls.some((r) => r.kind === 'syntax');
  return new OcikitError(
    ErrorCode.FromUnresolved,
    `${file} makes the build pull ${pulls.length} image(s) from a registry, which --hermetic forbids:\n${lines.join('\n')}\n(contexts given: ${contexts.length > 0 ? contexts.map((c) => quote(c)).join(', ') : 'none'})`,
    {
      hint: `Give each image a build context of the same name (--build-context NAME=oci-layout://…; Bazel: contexts = {"NAME": …}) or fix the name in the Dockerfile${frontend ? "; a # syntax= frontend is an image too: pin it with a context of its name or drop the line to use the builder's own frontend" : ''}. To allow pulls, drop --hermetic (Bazel: allow_pull = True).`,
      details: {
        dockerfile: file,
        pulls: pulls.map((r) => ({
          kind: r.kind,
          name: r.name,
          line: r.line,
          stage: r.stage,
          pull: r.pull,
        })),
      },
    },
  );
}

/**
 * Read the Dockerfile the flags name and check the images it makes BuildKit fetch.
 * @throws OcikitError `OCIKIT_FROM_UNRESOLVED` (hermetic: an image a registry would be asked
 *   for), `OCIKIT_CONTEXT_UNUSED` (unusedContexts `error`), `OCIKIT_DOCKERFILE_INVALID` and
 *   `OCIKIT_INPUT_UNREADABLE` / `OCIKIT_USAGE` (a check was asked for and cannot be made: a
 *   Dockerfile BuildKit would refuse, one that cannot be read, or one from stdin or a URL)
 */
export async function checkDockerfile(
  flags: BuildFlags,
  contextDir: string | undefined,
  options: DockerfileCheckOptions = {},
): Promise<DockerfileCheck> {
  const cwd = options.cwd ?? process.cwd();
  const strict = options.hermetic === true || options.unusedContexts === 'error';
  const contexts = (flags.buildContext ?? []).flatMap((c) => {
    const eq = c.indexOf('=');
    return eq > 0 ? [c.slice(0, eq)] : [];
  });
  const remote = contextDir === undefined || contextDir === '-' || URL_CONTEXT.test(contextDir);
  if (flags.file === '-' || (flags.file === undefined && remote)) {
    const label = flags.file === '-' ? '-' : `${contextDir ?? ''}/Dockerfile`;
    if (strict)
      throw new OcikitError(
        ErrorCode.Usage,
        `the Dockerfile comes from ${flags.file === '-' ? 'stdin' : `the remote context ${quote(contextDir ?? '')}`}: its images cannot be checked before the build`,
        { hint: 'Pass a Dockerfile on disk with -f, or drop --hermetic / --unused-context=error.' },
      );
    return { dockerfile: label, warnings: [] };
  }
  const abs = path.resolve(cwd, flags.file ?? path.join(contextDir as string, 'Dockerfile'));
  // Named relative to cwd, else to the context directory (the Bazel rules build from a private
  // copy of the context in a temporary directory), else absolute.
  const inside = (dir: string): string | undefined => {
    const rel = path.relative(dir, abs);
    return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : undefined;
  };
  const file =
    inside(cwd) ??
    (contextDir !== undefined ? inside(path.resolve(cwd, contextDir)) : undefined) ??
    abs;
  let text: string;
  try {
    text = await fsp.readFile(abs, 'utf8');
  } catch (e) {
    if (!strict) return { dockerfile: file, warnings: [] };
    throw new OcikitError(
      ErrorCode.InputUnreadable,
      `the Dockerfile ${quote(file, 400)} cannot be read (${errnoCode(e) ?? String(e)}): its images cannot be checked`,
      { hint: 'Point -f (or the context directory) at a readable Dockerfile.', cause: e },
    );
  }
  let sources: DockerfileSources;
  try {
    const opts: Parameters<typeof dockerfileSources>[1] = {
      buildArgs: buildArgs(flags, options.env ?? process.env),
      contexts,
      platforms: flags.platform ?? [],
      buildPlatform: options.buildPlatform ?? hostPlatform(),
    };
    if (flags.target !== undefined) opts.target = flags.target;
    sources = dockerfileSources(text, opts);
  } catch (e) {
    if (!(e instanceof DockerfileSyntaxError) && !(e instanceof OcikitError)) throw e;
    const at = e instanceof DockerfileSyntaxError && e.line > 0 ? `:${e.line}` : '';
    if (strict)
      throw new OcikitError(ErrorCode.DockerfileInvalid, `${file}${at}: ${e.message}`, {
        hint: 'BuildKit would refuse this Dockerfile too: fix the line named. (Its images are checked before the build because of --hermetic / --unused-context=error.)',
        details: { dockerfile: file, line: e instanceof DockerfileSyntaxError ? e.line : 0 },
        cause: e,
      });
    const warnings: Warning[] =
      contexts.length > 0
        ? [
            {
              code: 'OCIKIT_W_DOCKERFILE_UNCHECKED',
              message: `${file}${at}: ${e.message}; which contexts it uses was not checked`,
            },
          ]
        : [];
    return { dockerfile: file, warnings };
  }

  if (options.hermetic === true && sources.pulls.length > 0)
    throw unresolved(file, sources.pulls, sources, contexts);
  const warnings: Warning[] = [];
  if (sources.unusedContexts.length > 0) {
    const names = sources.unusedContexts.map((c) => quote(c)).join(', ');
    const message = `build context ${names} ${sources.unusedContexts.length > 1 ? 'are' : 'is'} not used by ${file}: no FROM, COPY --from or RUN --mount=from= names ${sources.unusedContexts.length > 1 ? 'them' : 'it'}`;
    if (options.unusedContexts === 'error')
      throw new OcikitError(ErrorCode.ContextUnused, message, {
        hint: 'Remove the context, or name it as the Dockerfile does (FROM base needs a context named base).',
        details: { dockerfile: file, unused: sources.unusedContexts },
      });
    for (const c of sources.unusedContexts)
      warnings.push({
        code: 'OCIKIT_W_CONTEXT_UNUSED',
        message: `build context ${quote(c)} is not referenced by ${file}`,
      });
  }
  return { dockerfile: file, sources, warnings };
}

/** The JSON view of the registry pulls of a Dockerfile. */
export interface PullSummary {
  kind: ImageReference['kind'];
  name: string;
  line: number;
  stage?: string;
  pull: string;
}

/** Registry pulls of the checked Dockerfile, for --json. */
export function pullSummary(sources: DockerfileSources): PullSummary[] {
  return sources.pulls.map((r) => {
    const p: PullSummary = { kind: r.kind, name: r.name, line: r.line, pull: r.pull ?? r.name };
    if (r.stage !== undefined) p.stage = r.stage;
    return p;
  });
}
