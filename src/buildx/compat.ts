/**
 * The buildx compatibility model: what each buildx version does with an `oci-layout://` build
 * context that changes a decision of ocikit. One table ({@link COMPAT}); each row names the
 * buildx, BuildKit or containerd commit and release it comes from (read in their sources) and
 * the decision it drives. Facts that drive no decision because ocikit sidesteps them are listed
 * apart ({@link SIDESTEPPED}). README's compatibility section is rendered from both
 * ({@link renderCompatMarkdown}; a test keeps it in sync).
 *
 * An unknown version gets each row's `unknown` answer: the safe one where there is one (assume
 * the write). Rows that depend on the containerd linked into the binary rather than on buildx's
 * own code (`linked`) take that answer also for distribution rebuilds (a version with build
 * metadata such as Debian's `0.19.0+ds1`), which link the distribution's containerd instead of
 * the one buildx vendors.
 */
import { REWRITE_TIMESTAMP, SCRATCH_EXPORT_CRASH } from './builder.js';
import { ErrorCode, OcikitError } from '../errors.js';
import type { TagOrder } from '../layout/resolve.js';

/** The builder facts rendered beside the buildx table. */
const BUILDER_CHANGES = [
  { name: 'OCI exporter fix for an empty platform', ...SCRATCH_EXPORT_CRASH },
  { name: '`rewrite-timestamp` exporter option', ...REWRITE_TIMESTAMP },
];

/** A parsed buildx version. */
export interface BuildxVersion {
  major: number;
  minor: number;
  patch: number;
  /** The text it was parsed from, e.g. `0.13.1+ds1-3`. */
  raw: string;
}

/** What a buildx version does to a layout it reads as a build context (each drives a decision). */
export interface BuildxBehaviour {
  /** How a tag is looked up in index.json: the digest ocikit pins for a tag (resolve, context). */
  tagOrder: TagOrder;
  /** Creates `ingest/` when it opens the layout as a content store: in place only if `ingest/` exists (context). */
  mayCreateIngest: boolean;
  /** Creates and removes a `.fsverity-check-*` directory in a writable layout: in place only if not writable (context). */
  probesFsVerity: boolean;
  /** Cuts `oci-layout://` refs at the first `:`/`@`: a path with either gets a thin copy (context). */
  cutsAtFirstSeparator: boolean;
  /** Applies a `Dockerfile.rego` next to the Dockerfile as source policy: warned about (buildx-args). */
  appliesRegoPolicy: boolean;
  /** Sends SOURCE_DATE_EPOCH from its environment as a build argument: it then counts as the epoch (build). */
  forwardsSourceDateEpoch: boolean;
}

/** One row of the table: a behaviour that changes at one buildx release. */
export interface CompatRow<T> {
  /** The first buildx release with the `after` behaviour. */
  since: string;
  before: T;
  after: T;
  /** The answer for an unknown version (and, for `linked` rows, for distribution rebuilds). */
  unknown: T;
  /** The change itself: `owner/repo@commit` (the project's release that has it). */
  commit: string;
  /** The buildx commit that brought it in (vendoring), when the change is not buildx's own. */
  vendored?: string;
  /**
   * Set when the behaviour belongs to the containerd linked into buildx: releases before this
   * buildx version may link another containerd when rebuilt by a distribution.
   */
  linkedBefore?: string;
  /** What happens, in a sentence. */
  note: string;
}

/** The table: one row per behaviour flag. */
export const COMPAT: { readonly [K in keyof BuildxBehaviour]: CompatRow<BuildxBehaviour[K]> } = {
  tagOrder: {
    since: '0.20.0',
    before: 'ref-name-only',
    after: 'image-name-first',
    unknown: 'image-name-first',
    commit: 'moby/buildkit@01cf0c69f (BuildKit v0.19.0)',
    vendored: 'docker/buildx@44fa243d5',
    note: 'A tag is looked up in io.containerd.image.name before org.opencontainers.image.ref.name; before, in ref.name only. ocikit pins the digest the target version would pick and warns (OCIKIT_W_TAG_ORDER) when the other order picks another; unknown: the current order.',
  },
  mayCreateIngest: {
    since: '0.19.0',
    before: true,
    after: false,
    unknown: true,
    commit: 'containerd/containerd@ddf2b03ed (containerd v1.7.24; v2.0.0 has it as 3cc2343de)',
    vendored: 'docker/buildx@13a426fca',
    linkedBefore: '0.20.0',
    note: 'Opening the layout as a content store no longer creates ingest/. It is containerd code: a distribution rebuild before 0.20 (containerd 1.x import path) links the distribution containerd, so it is assumed to create ingest/; from 0.20 every build links containerd 2 (which has the fix).',
  },
  probesFsVerity: {
    since: '0.20.0',
    before: false,
    after: true,
    unknown: true,
    commit: 'containerd/containerd@ef98c7198 (containerd v2.0.0)',
    vendored: 'docker/buildx@44fa243d5',
    note: 'Opening the layout as a content store probes fs-verity by creating and removing a `.fsverity-check-*` directory in it (Linux >= 5.4), which succeeds when the layout is writable (root ignores file modes). containerd 1.x has no probe, 2.x always does: the import path decides, distribution rebuilds included.',
  },
  cutsAtFirstSeparator: {
    since: '0.31.0',
    before: true,
    after: false,
    unknown: true,
    commit: 'docker/buildx@2e76c0559 (buildx v0.31.0)',
    note: 'The oci-layout:// parser takes the last @ only when a digest follows and the last : only when a tag follows; before, it cut at the first @ and the first :, so a path containing either was misread. ocikit gives such paths a thin copy under --out before 0.31.',
  },
  appliesRegoPolicy: {
    since: '0.31.0',
    before: false,
    after: true,
    unknown: true,
    commit: 'docker/buildx@93341aaee (buildx v0.31.0)',
    note: 'A Dockerfile.rego next to the Dockerfile is loaded as source policy and may reject oci-layout sources. buildx-args warns (OCIKIT_W_REGO_POLICY).',
  },
  forwardsSourceDateEpoch: {
    since: '0.11.0',
    before: false,
    after: true,
    unknown: true,
    commit: 'docker/buildx@0e6f5a155 (buildx v0.11.0)',
    note: 'SOURCE_DATE_EPOCH in the client environment is sent as the build argument of that name unless one is given. ocikit build counts it as the epoch of the build: it asks the OCI exporter for rewrite-timestamp=true (where the builder has it) and reports it under `reproducible`.',
  },
};

/** A fact of some buildx versions that drives no decision, because ocikit never meets it. */
export interface SidesteppedFact {
  /** `all`, or the buildx releases that have it (`0.33.0` … or `0.33.0 – 0.33.x`). */
  versions: string;
  /** Where it comes from, and where it went away when it did. */
  commits: string;
  /** What buildx does. */
  fact: string;
  /** Why ocikit never meets it. */
  because: string;
}

/** Known behaviours ocikit sidesteps for every version. */
export const SIDESTEPPED: readonly SidesteppedFact[] = [
  {
    versions: 'all (oci-layout contexts exist since 0.9.0)',
    commits:
      'docker/buildx@02bae945c (v0.9.0); BuildKit client/ociindex Read() (moby/buildkit@6e7617e88)',
    fact: 'A ref without a digest is resolved on the client: a shared flock on index.json.lock, created in the layout and removed afterwards. When no tag matches, the only manifest of index.json is taken.',
    because:
      'Every value ocikit emits carries the digest, so buildx never opens index.json; the single-manifest fallback is modelled by resolve itself (OCIKIT_W_TAG_FALLBACK).',
  },
  {
    versions: '>= 0.18.0',
    commits: 'moby/buildkit@62e4130b5 (BuildKit v0.17.0), vendored docker/buildx@6fcc6853d',
    fact: 'The lock error is ignored on EROFS and EPERM; EACCES (non-root user, 0555 layout) still fails the build.',
    because: 'No lock is taken for a digest-pinned ref.',
  },
  {
    versions: '0.33.0 (fixed in 0.34.0)',
    commits: 'docker/buildx@989418936 (v0.33.0); fixed by docker/buildx@dcf533e75 (v0.34.0)',
    fact: 'A digest-only ref (no tag) is forwarded as `oci-layout://<id>:@sha256:…`, which fails.',
    because: 'ocikit always carries a tag: `PATH:TAG@DIGEST`.',
  },
  {
    versions: '>= 0.36.0',
    commits:
      'containerd/containerd@5f0f0dcaa (containerd v2.3.0), vendored docker/buildx@0cf7592d4',
    fact: 'A missing layout directory is created (mkdir -p) when the content store is opened.',
    because: 'ocikit opens every layout first and refuses a missing one (OCIKIT_LAYOUT_NOT_FOUND).',
  },
];

const VERSION = /(?:^|\s|v)(\d+)\.(\d+)\.(\d+)([^\s]*)/;

/**
 * Parse a buildx version from `docker buildx version` output or a bare version. Accepts
 * `github.com/docker/buildx v0.19.3 48d6a39`, Debian's `github.com/docker/buildx 0.29.1+ds1
 * 0.29.1+ds1-4`, and `0.13.1+ds1-3`.
 * @throws OcikitError `OCIKIT_USAGE` when no version can be found
 */
export function parseBuildxVersion(text: string): BuildxVersion {
  const m = VERSION.exec(text.trim());
  if (!m) {
    throw new OcikitError(
      ErrorCode.Usage,
      `cannot read a buildx version from ${JSON.stringify(text.slice(0, 200))}`,
      {
        hint: 'Pass --buildx-version as MAJOR.MINOR.PATCH, e.g. 0.29.1.',
      },
    );
  }
  const [, major, minor, patch, rest] = m;
  return {
    major: Number(major),
    minor: Number(minor),
    patch: Number(patch),
    raw: `${major}.${minor}.${patch}${rest ?? ''}`,
  };
}

function compare(a: BuildxVersion, b: BuildxVersion): number {
  return a.major - b.major || a.minor - b.minor || a.patch - b.patch;
}

/**
 * True for a distribution rebuild: a version with build metadata (`+ds1`, Debian's rebuilds
 * against the distribution's Go libraries), whose linked containerd is not the vendored one.
 */
export function isDistroBuild(v: BuildxVersion): boolean {
  return /^\d+\.\d+\.\d+(?:-[^+\s]*)?\+/.test(v.raw);
}

function decide<T>(row: CompatRow<T>, v: BuildxVersion | undefined): T {
  if (v === undefined) return row.unknown;
  if (
    row.linkedBefore !== undefined &&
    isDistroBuild(v) &&
    compare(v, parseBuildxVersion(row.linkedBefore)) < 0
  ) {
    return row.unknown;
  }
  return compare(v, parseBuildxVersion(row.since)) >= 0 ? row.after : row.before;
}

/** The behaviour of a version, from {@link COMPAT}; `undefined` (unknown) takes each row's `unknown` answer. */
export function buildxBehaviour(v: BuildxVersion | undefined): BuildxBehaviour {
  return {
    tagOrder: decide(COMPAT.tagOrder, v),
    mayCreateIngest: decide(COMPAT.mayCreateIngest, v),
    probesFsVerity: decide(COMPAT.probesFsVerity, v),
    cutsAtFirstSeparator: decide(COMPAT.cutsAtFirstSeparator, v),
    appliesRegoPolicy: decide(COMPAT.appliesRegoPolicy, v),
    forwardsSourceDateEpoch: decide(COMPAT.forwardsSourceDateEpoch, v),
  };
}

/** `0.29.1` or `unknown`. */
export function formatBuildxVersion(v: BuildxVersion | undefined): string {
  return v === undefined ? 'unknown' : `${v.major}.${v.minor}.${v.patch}`;
}

function cell(v: unknown): string {
  return typeof v === 'boolean' ? (v ? 'yes' : 'no') : `\`${String(v)}\``;
}

/** README's compatibility section (between its markers), rendered from the tables. */
export function renderCompatMarkdown(): string {
  const lines = [
    '| flag | before | from buildx | unknown version | source (release), vendored by | what happens, and the decision |',
    '|---|---|---|---|---|---|',
  ];
  for (const [flag, row] of Object.entries(COMPAT) as [string, CompatRow<unknown>][]) {
    const unknown = `${cell(row.unknown)}${row.linkedBefore !== undefined ? ` (also distro rebuilds < ${row.linkedBefore})` : ''}`;
    lines.push(
      `| \`${flag}\` | ${cell(row.before)} | ${row.since}: ${cell(row.after)} | ${unknown} | ${row.commit}${row.vendored !== undefined ? `, vendored by ${row.vendored}` : ''} | ${row.note} |`,
    );
  }
  lines.push(
    '',
    'Sidestepped (no decision depends on them):',
    '',
    '| buildx | source | what buildx does | why ocikit never meets it |',
    '|---|---|---|---|',
  );
  for (const f of SIDESTEPPED) {
    lines.push(`| ${f.versions} | ${f.commits} | ${f.fact} | ${f.because} |`);
  }
  lines.push(
    '',
    'The builder (BuildKit, embedded in dockerd or standalone), as `docker buildx inspect` and the daemon version tell it (src/buildx/builder.ts):',
    '',
    '| change | from BuildKit | from dockerd | source | what happens | the decision |',
    '|---|---|---|---|---|---|',
  );
  for (const c of BUILDER_CHANGES) {
    lines.push(
      `| ${c.name} | ${c.buildkit.join('.')} | ${c.dockerd.join('.')} | ${c.commit} | ${c.summary} | ${c.decision} |`,
    );
  }
  return `${lines.join('\n')}\n`;
}
