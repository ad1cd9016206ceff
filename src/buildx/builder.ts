/**
 * What the builder (BuildKit, embedded in dockerd or standalone) does, as opposed to the buildx
 * client (src/buildx/compat.ts): which BuildKit a builder runs, learned from
 * `docker buildx inspect` and, when that says `v0.0.0+unknown` (Debian's dockerd builds), from
 * the daemon's version and the BuildKit it embeds; and the behaviours that follow from it.
 */
import { ErrorCode, OcikitError } from '../errors.js';
import type { Runner } from './preflight.js';

/** A MAJOR.MINOR.PATCH version. */
export interface Version {
  major: number;
  minor: number;
  patch: number;
  raw: string;
}

/** Parse the first `MAJOR.MINOR.PATCH` in `text` (`v0.13.2`, `26.1.5+dfsg1`); undefined if none. */
export function parseVersion(text: string): Version | undefined {
  const m = /(\d+)\.(\d+)\.(\d+)([^\s]*)/.exec(text);
  if (m === null) return undefined;
  return {
    major: Number(m[1]),
    minor: Number(m[2]),
    patch: Number(m[3]),
    raw: `${m[1]}.${m[2]}.${m[3]}${m[4] ?? ''}`,
  };
}

function compare(a: Version, b: [number, number, number]): number {
  return a.major - b[0] || a.minor - b[1] || a.patch - b[2];
}

/**
 * The BuildKit release each moby/dockerd release line embeds (moby's vendor.mod at the tag):
 * v25.0.5 → v0.12.5, v26.0.0 → v0.13.1 (also v26.1.0), v26.1.1 → v0.13.2 (to v26.1.5),
 * v27.5.1 → v0.18.2, v28.0.0 → v0.20.0, v28.1.0 → v0.21.0,
 * v28.2.0 → v0.22.0, v28.3.0 → v0.23.1, v28.4.0 → v0.24.0, v28.5.2 → v0.25.2.
 * Checked in github.com/moby/moby's history; newest first, first match wins.
 */
export const EMBEDDED_BUILDKIT: readonly { dockerd: [number, number, number]; buildkit: string }[] =
  [
    { dockerd: [28, 5, 0], buildkit: '0.25.2' },
    { dockerd: [28, 4, 0], buildkit: '0.24.0' },
    { dockerd: [28, 3, 0], buildkit: '0.23.1' },
    { dockerd: [28, 2, 0], buildkit: '0.22.0' },
    { dockerd: [28, 1, 0], buildkit: '0.21.0' },
    { dockerd: [28, 0, 0], buildkit: '0.20.0' },
    { dockerd: [27, 5, 0], buildkit: '0.18.2' },
    { dockerd: [26, 1, 1], buildkit: '0.13.2' },
    { dockerd: [26, 0, 0], buildkit: '0.13.1' },
  ];

/** A change in BuildKit: its first release, and the first dockerd release that embeds it. */
export interface BuilderChange {
  buildkit: [number, number, number];
  dockerd: [number, number, number];
  /** `moby/buildkit@COMMIT`. */
  commit: string;
  /** What it means for a build, in a sentence. */
  summary: string;
  /** What ocikit decides from it. */
  decision: string;
}

/**
 * Whether the builder has a change: by its BuildKit version, else by the dockerd that embeds
 * its BuildKit; `undefined` when neither is known.
 */
export function builderHas(info: BuilderInfo, change: BuilderChange): boolean | undefined {
  if (info.buildkit !== undefined) return compare(info.buildkit, change.buildkit) >= 0;
  if (info.dockerd !== undefined) return compare(info.dockerd, change.dockerd) >= 0;
  return undefined;
}

/**
 * The OCI exporter crash on a multi-platform result with an empty platform (a `FROM scratch`
 * base with nothing added): `exporter/oci.(*imageExporterInstance).Export.func3` calls
 * GetRemotes on a nil ref and the BuildKit process (dockerd, for the docker driver) dies with a
 * nil pointer dereference; the client sees `rpc error: code = Unavailable … EOF`.
 * Fixed by moby/buildkit d5704f85f "exporter: fix oci export of multi-platform nil result"
 * (2025-05-27), first released in BuildKit v0.23.0; moby v28.3.0 is the first dockerd that
 * embeds a fixed BuildKit (v0.23.1). Observed here: Debian trixie dockerd 26.1.5 (BuildKit
 * v0.13.2) crashes; Debian forky dockerd 28.5.2 does not.
 */
export const SCRATCH_EXPORT_CRASH: BuilderChange = {
  buildkit: [0, 23, 0],
  dockerd: [28, 3, 0],
  commit: 'moby/buildkit@d5704f85f',
  summary:
    'BuildKit before v0.23.0 (dockerd before 28.3.0) crashes in its OCI exporter when one platform of a multi-platform build has an empty result (moby/buildkit d5704f85f)',
  decision:
    'build --split-platforms=auto builds one platform at a time and merges when the builder is before the fix (or unknown) and a platform may be empty.',
};

/**
 * `rewrite-timestamp=true` on the image and OCI exporters: file timestamps in the layers are
 * rewritten to SOURCE_DATE_EPOCH (clamped: newer ones only), so a layer's bytes no longer depend
 * on when the context files were written. Added by moby/buildkit 2f8292cf7
 * "exporter/containerimage: new option: rewrite-timestamp" (2023-07-24), first released in
 * BuildKit v0.13.0; moby v26.0.0 is the first dockerd that embeds it (v0.13.1). Older BuildKit
 * takes unknown exporter options as metadata and ignores them (exporter/oci Resolve at
 * v0.12.5), so passing it is harmless where it is unknown. Observed here: Debian trixie
 * dockerd 26.1.5 and forky 28.5.2 both rewrite (layers annotated
 * `buildkit/rewritten-timestamp`).
 */
export const REWRITE_TIMESTAMP: BuilderChange = {
  buildkit: [0, 13, 0],
  dockerd: [26, 0, 0],
  commit: 'moby/buildkit@2f8292cf7',
  summary:
    "BuildKit before v0.13.0 (dockerd before 26.0.0) has no rewrite-timestamp exporter option (moby/buildkit 2f8292cf7): file timestamps in the layers keep the context files' times, so layers of COPY and ADD may differ between builds",
  decision:
    'build asks for rewrite-timestamp=true when SOURCE_DATE_EPOCH is set and the builder has it or is unknown (older BuildKit ignores unknown exporter options); before it, it warns (OCIKIT_W_REWRITE_TIMESTAMP).',
};

/**
 * Whether the builder rewrites layer timestamps on request ({@link REWRITE_TIMESTAMP}):
 * `true`, `false`, or `undefined` (unknown).
 */
export function supportsRewriteTimestamp(info: BuilderInfo): boolean | undefined {
  return builderHas(info, REWRITE_TIMESTAMP);
}

/** What is known of a builder. */
export interface BuilderInfo {
  name: string;
  driver: string;
  /** BuildKit version as `docker buildx inspect` reports it, when it is a real one. */
  buildkit?: Version;
  /** dockerd's version (docker driver), when BuildKit's own is unknown. */
  dockerd?: Version;
  /** The BuildKit the daemon embeds, from {@link EMBEDDED_BUILDKIT}. */
  embeddedBuildkit?: string;
}

/**
 * Ask buildx about the builder (`docker buildx inspect [builder]`) and, when it does not tell
 * a BuildKit version, the daemon (`docker version`).
 * @throws OcikitError `OCIKIT_BUILDER_UNREACHABLE` when buildx cannot inspect it
 */
export async function inspectBuilder(
  docker: string,
  builder: string | undefined,
  env: NodeJS.ProcessEnv,
  runner: Runner,
): Promise<BuilderInfo> {
  const inspect = await runner(
    [docker, 'buildx', 'inspect', ...(builder !== undefined ? [builder] : [])],
    env,
  );
  if (inspect.code !== 0) {
    throw new OcikitError(
      ErrorCode.BuilderUnreachable,
      `docker buildx inspect failed: ${inspect.stderr.trim().split('\n').pop() ?? ''}`,
      { hint: 'Start the docker daemon, or point DOCKER_HOST / --builder at a running builder.' },
    );
  }
  const field = (name: string): string =>
    new RegExp(`^\\s*${name}:[ \\t]*(.*)$`, 'm').exec(inspect.stdout)?.[1]?.trim() ?? '';
  const info: BuilderInfo = { name: field('Name'), driver: field('Driver') };
  const bk = parseVersion(field('BuildKit version') || field('Buildkit'));
  if (bk !== undefined && (bk.major > 0 || bk.minor > 0 || bk.patch > 0)) info.buildkit = bk;
  if (info.buildkit === undefined && info.driver === 'docker') {
    const v = await runner([docker, 'version', '--format', '{{.Server.Version}}'], env);
    const dockerd = v.code === 0 ? parseVersion(v.stdout) : undefined;
    if (dockerd !== undefined) {
      info.dockerd = dockerd;
      const row = EMBEDDED_BUILDKIT.find((r) => compare(dockerd, r.dockerd) >= 0);
      if (row !== undefined) info.embeddedBuildkit = row.buildkit;
    }
  }
  return info;
}

/** `dockerd 26.1.5 (BuildKit 0.13.2)`, `BuildKit 0.13.2`, `unknown BuildKit`. */
export function describeBuilder(info: BuilderInfo): string {
  if (info.buildkit !== undefined) return `BuildKit ${info.buildkit.raw}`;
  if (info.dockerd !== undefined)
    return `dockerd ${info.dockerd.raw}${info.embeddedBuildkit !== undefined ? ` (embedded BuildKit ${info.embeddedBuildkit})` : ''}`;
  return 'a builder of unknown BuildKit version';
}

/**
 * Whether the builder has the {@link SCRATCH_EXPORT_CRASH}: `true`, `false`, or `undefined`
 * (unknown: callers treat it as affected).
 */
export function hasScratchExportCrash(info: BuilderInfo): boolean | undefined {
  const fixed = builderHas(info, SCRATCH_EXPORT_CRASH);
  return fixed === undefined ? undefined : !fixed;
}
