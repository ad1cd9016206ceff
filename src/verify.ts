/**
 * Verifying a layout: every blob reachable from the selection (or from index.json) exists as
 * a regular file, with the declared size and digest. All problems are collected, each naming
 * the blob, what references it, and the tag and platform it belongs to.
 */
import { blobRelPath, isHashable, parseDigest } from './digest.js';
import {
  ErrorCode,
  OcikitError,
  environmentError,
  fsError,
  isOcikitError,
  quote,
} from './errors.js';
import { hashFiles, type HashJob } from './hash.js';
import type { Layout } from './layout.js';
import {
  Annotation,
  isForeignLayerMediaType,
  isImageConfigMediaType,
  kindOfMediaType,
  type ContentKind,
} from './media-types.js';
import { formatPlatform, isAttestation } from './platform.js';
import {
  MAX_INDEX_DEPTH,
  locateDigest,
  findTag,
  layoutTags,
  resolve,
  type ResolveOptions,
} from './resolve.js';
import type { Descriptor, Warning } from './schema.js';

/** One way a blob is reached. */
export interface Reference {
  /** `index.json`, or the digest of the index or manifest that references the blob. */
  parent: string;
  /** What the blob is to its parent. */
  role: 'manifest' | 'index' | 'config' | 'layer' | 'blob';
  /** The tag of the index.json entry this reference descends from. */
  tag?: string;
  /** The platform of the image this reference belongs to, `os/arch[/variant]`. */
  platform?: string;
  /** True when reached through an attestation manifest. */
  attestation?: boolean;
}

/** One thing wrong with a layout. */
export interface Problem {
  code: ErrorCode;
  message: string;
  hint: string;
  digest: string;
  /** Blob path relative to the layout, when the digest is valid. */
  path?: string;
  referencedBy: Reference[];
}

/** Options of {@link verifyLayout}. */
export interface VerifyOptions extends ResolveOptions {
  /** Check existence and sizes only; skip hashing layer blobs. Default false. */
  noDigests?: boolean;
  /** Worker threads for hashing; default: available cores. */
  workers?: number;
  /** Called with total bytes to hash before hashing starts, then with bytes hashed. */
  onProgress?: (event: { total: number; done: number }) => void;
}

/** The result of {@link verifyLayout}. */
export interface VerifyReport {
  ok: boolean;
  /** Distinct blobs reachable from the selection. */
  blobs: number;
  /** Their declared bytes in total. */
  bytes: number;
  /** Whether content digests were checked (false with `noDigests`). */
  digests: boolean;
  /** Root descriptors verified (digests). */
  roots: string[];
  problems: Problem[];
  warnings: Warning[];
}

interface Entry {
  descriptor: Descriptor;
  kind: ContentKind;
  refs: Reference[];
  problems: Problem[];
  /** Set when the content was read and hashed while walking (metadata). */
  hashed: boolean;
}

interface Context {
  tag?: string;
  platform?: string;
  attestation?: boolean;
}

function roleOf(kind: ContentKind, inLayers: boolean): Reference['role'] {
  if (inLayers) return 'layer';
  return kind === 'blob' ? 'blob' : kind;
}

function describeRefs(refs: readonly Reference[]): string {
  const parts = refs.slice(0, 3).map((r) => {
    const where =
      r.parent === 'index.json'
        ? 'index.json'
        : `${r.role === 'config' || r.role === 'layer' ? 'manifest' : 'index'} ${r.parent}`;
    const ctx = [
      r.tag !== undefined ? `tag ${quote(r.tag, 60)}` : '',
      r.platform !== undefined
        ? `platform ${/^[\w./+-]{1,60}$/.test(r.platform) ? r.platform : quote(r.platform, 60)}`
        : '',
      r.attestation ? 'attestation' : '',
    ]
      .filter(Boolean)
      .join(', ');
    return ctx === '' ? where : `${where} (${ctx})`;
  });
  if (refs.length > 3) parts.push(`${refs.length - 3} more`);
  return parts.join('; ');
}

class Walker {
  readonly entries = new Map<string, Entry>();
  private readonly expanded = new Set<string>();

  constructor(private readonly layout: Layout) {}

  problem(entry: Entry, e: unknown): void {
    const err = isOcikitError(e)
      ? e
      : (environmentError(e, { side: 'input' }) ??
        new OcikitError(
          ErrorCode.Internal,
          `${entry.descriptor.digest}: ${(e as Error).message ?? String(e)}`,
          { hint: 'Please report this.' },
        ));
    // Out of file descriptors is the run's failure, not the blob's.
    if (err.code === ErrorCode.TooManyOpenFiles) throw err;
    if (entry.problems.some((p) => p.code === err.code && p.message === err.message)) return;
    entry.problems.push(toProblem(err, entry));
  }

  async visit(
    desc: Descriptor,
    ref: Reference,
    ctx: Context,
    ancestry: readonly string[],
  ): Promise<void> {
    let entry = this.entries.get(desc.digest);
    if (entry === undefined) {
      entry = {
        descriptor: desc,
        kind: kindOfMediaType(desc.mediaType),
        refs: [],
        problems: [],
        hashed: false,
      };
      this.entries.set(desc.digest, entry);
      try {
        parseDigest(desc.digest);
      } catch (e) {
        this.problem(entry, e);
      }
    } else if (entry.descriptor.size !== desc.size) {
      this.problem(
        entry,
        new OcikitError(
          ErrorCode.BlobSizeMismatch,
          `blob ${desc.digest} is referenced with sizes ${entry.descriptor.size} and ${desc.size}`,
          {
            hint: 'One of the referencing descriptors is wrong; regenerate the layout.',
            details: { digest: desc.digest },
          },
        ),
      );
    }
    if (
      !entry.refs.some(
        (r) =>
          r.parent === ref.parent &&
          r.tag === ref.tag &&
          r.platform === ref.platform &&
          r.role === ref.role,
      )
    ) {
      entry.refs.push(ref);
    }
    if (entry.kind === 'layer' || entry.kind === 'blob') return;
    const isConfig = entry.kind === 'config';
    if (!isConfig && ancestry.includes(desc.digest)) {
      this.problem(
        entry,
        new OcikitError(
          ErrorCode.ReferenceCycle,
          `index ${desc.digest} references itself (${[...ancestry, desc.digest].join(' -> ')})`,
          {
            hint: 'The layout is corrupt; regenerate it.',
            details: { digest: desc.digest },
          },
        ),
      );
      return;
    }
    // Same limit as resolve: indexes at depth 0..MAX_INDEX_DEPTH, and the manifests they list.
    if (!isConfig && ancestry.length > MAX_INDEX_DEPTH + (entry.kind === 'manifest' ? 1 : 0)) {
      this.problem(
        entry,
        new OcikitError(
          ErrorCode.NestingTooDeep,
          `index ${desc.digest}: indexes nest more than ${MAX_INDEX_DEPTH} deep`,
          {
            hint: 'Flatten the index.',
            details: { digest: desc.digest },
          },
        ),
      );
      return;
    }
    const key = `${desc.digest}\0${ctx.tag ?? ''}\0${ctx.platform ?? ''}\0${ctx.attestation ? 1 : 0}`;
    if (this.expanded.has(key)) return;
    this.expanded.add(key);
    if (entry.problems.length > 0) return;
    const here = [...ancestry, desc.digest];
    try {
      const blob = await this.layout.readJsonBlob(desc, { verifyDigest: false });
      entry.hashed = true;
      if (blob.actualDigest !== desc.digest) {
        this.problem(
          entry,
          new OcikitError(
            ErrorCode.BlobDigestMismatch,
            `blob ${desc.digest} at ${blobRelPath(parseDigest(desc.digest))} has content with digest ${blob.actualDigest}`,
            {
              hint: 'The blob is corrupt; copy the layout again from its source.',
            },
          ),
        );
      }
      if (isConfig) {
        await this.layout.readConfig(desc, { verifyDigest: false });
      } else if (entry.kind === 'index') {
        const index = await this.layout.readIndex(desc, { verifyDigest: false });
        await Promise.all(
          index.manifests.map((child) => {
            const attestation = ctx.attestation === true || isAttestation(child);
            const platform =
              child.platform !== undefined && !isAttestation(child)
                ? formatPlatform(child.platform)
                : ctx.platform;
            const childCtx: Context = { ...ctx, attestation };
            if (platform !== undefined) childCtx.platform = platform;
            return this.visit(
              child,
              withCtx(
                { parent: desc.digest, role: roleOf(kindOfMediaType(child.mediaType), false) },
                childCtx,
              ),
              childCtx,
              here,
            );
          }),
        );
      } else {
        const manifest = await this.layout.readManifest(desc, { verifyDigest: false });
        const childCtx: Context = { ...ctx };
        // An attestation's config says unknown/unknown: it belongs to no platform of its own.
        if (
          childCtx.platform === undefined &&
          !ctx.attestation &&
          isImageConfigMediaType(manifest.config.mediaType)
        ) {
          try {
            const config = await this.layout.readConfig(manifest.config, { verifyDigest: false });
            childCtx.platform = formatPlatform(config);
          } catch {
            // reported when the config itself is visited
          }
        }
        await this.visit(
          manifest.config,
          withCtx({ parent: desc.digest, role: 'config' }, childCtx),
          childCtx,
          here,
        );
        for (const layer of manifest.layers) {
          await this.visit(
            layer,
            withCtx({ parent: desc.digest, role: 'layer' }, childCtx),
            childCtx,
            here,
          );
        }
      }
    } catch (e) {
      this.problem(entry, e);
    }
  }
}

function withCtx(ref: Reference, ctx: Context): Reference {
  if (ctx.tag !== undefined) ref.tag = ctx.tag;
  if (ctx.platform !== undefined) ref.platform = ctx.platform;
  if (ctx.attestation) ref.attestation = true;
  return ref;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function refKey(r: Reference): string {
  return [r.parent, r.role, r.tag ?? '', r.platform ?? '', r.attestation ? '1' : ''].join('\0');
}

function toProblem(err: OcikitError, entry: Entry): Problem {
  const p: Problem = {
    code: err.code,
    message: err.message,
    hint: err.hint,
    digest: entry.descriptor.digest,
    referencedBy: entry.refs,
  };
  try {
    p.path = blobRelPath(parseDigest(entry.descriptor.digest));
  } catch {
    // invalid digest: no path
  }
  return p;
}

/**
 * Verify a layout (all of index.json, or the image a tag/digest/platform selects).
 * Never throws for a problem in the blobs: those are returned in the report. Throws only
 * when the layout cannot be opened or the selection cannot be resolved.
 */
export async function verifyLayout(
  layout: Layout,
  options: VerifyOptions = {},
): Promise<VerifyReport> {
  const walker = new Walker(layout);
  const roots: string[] = [];
  if (
    options.platform === undefined &&
    (options.tag !== undefined || options.digest !== undefined)
  ) {
    // No platform: pick the root without reading it, so that a broken root blob is reported
    // as a problem like any other instead of aborting the whole verification.
    const located =
      options.digest !== undefined
        ? await locateDigest(layout, options.digest)
        : { descriptor: findTag(layout, options.tag ?? 'latest').descriptor, path: [] };
    const root = located.descriptor;
    const parent =
      located.path.length > 1 ? (located.path[located.path.length - 2] as string) : 'index.json';
    const ctx: Context = {};
    if (options.tag !== undefined) ctx.tag = options.tag;
    if (root.platform !== undefined) ctx.platform = formatPlatform(root.platform);
    roots.push(root.digest);
    await walker.visit(
      root,
      withCtx({ parent, role: roleOf(kindOfMediaType(root.mediaType), false) }, ctx),
      ctx,
      [],
    );
  } else if (options.platform !== undefined) {
    const r = await resolve(layout, options);
    const parent = r.path.length > 1 ? (r.path[r.path.length - 2] as string) : 'index.json';
    const ctx: Context = {};
    if (r.tag !== undefined) ctx.tag = r.tag;
    if (r.descriptor.platform !== undefined) ctx.platform = formatPlatform(r.descriptor.platform);
    roots.push(r.descriptor.digest);
    await walker.visit(
      r.descriptor,
      withCtx({ parent, role: roleOf(kindOfMediaType(r.descriptor.mediaType), false) }, ctx),
      ctx,
      [],
    );
  } else {
    for (const d of layout.index.manifests) {
      const ctx: Context = {};
      const tag =
        d.annotations?.[Annotation.RefName] ?? d.annotations?.[Annotation.ContainerdImageName];
      if (tag !== undefined) ctx.tag = tag;
      if (d.platform !== undefined) ctx.platform = formatPlatform(d.platform);
      roots.push(d.digest);
      await walker.visit(
        d,
        withCtx({ parent: 'index.json', role: roleOf(kindOfMediaType(d.mediaType), false) }, ctx),
        ctx,
        [],
      );
    }
  }

  // File checks for every blob not already read, then hashing.
  const entries = [...walker.entries.values()];
  const toHash: { entry: Entry; job: HashJob }[] = [];
  await Promise.all(
    entries.map(async (entry) => {
      if (entry.problems.length > 0 || entry.hashed) return;
      const d = entry.descriptor;
      const digest = parseDigest(d.digest);
      try {
        const file = await layout.locateBlob(digest);
        if (file.size !== d.size) {
          throw new OcikitError(
            ErrorCode.BlobSizeMismatch,
            `blob ${d.digest} at ${file.relPath} is ${file.size} bytes, the descriptor says ${d.size}`,
            {
              hint: 'The blob is truncated or was replaced; copy the layout again from its source.',
            },
          );
        }
        if (options.noDigests) return;
        if (!isHashable(digest.algorithm)) {
          throw new OcikitError(
            ErrorCode.DigestUnsupported,
            `blob ${d.digest}: algorithm ${digest.algorithm} is not supported`,
            {
              hint: 'ocikit verifies sha256 and sha512 digests; pass --no-digests to check sizes only.',
            },
          );
        }
        toHash.push({ entry, job: { path: file.path, algorithm: digest.algorithm, size: d.size } });
      } catch (e) {
        if (
          isOcikitError(e, ErrorCode.BlobMissing) &&
          (d.urls?.length ?? 0) > 0 &&
          isForeignLayerMediaType(d.mediaType)
        ) {
          layout.lenience.warnings.push({
            code: 'OCIKIT_W_FOREIGN_LAYER',
            message: `foreign layer ${d.digest} is not in the layout (it has urls)`,
          });
          return;
        }
        walker.problem(entry, e);
      }
    }),
  );
  toHash.sort((a, b) => (a.entry.descriptor.digest < b.entry.descriptor.digest ? -1 : 1));
  const total = toHash.reduce((n, x) => n + x.job.size, 0);
  let done = 0;
  options.onProgress?.({ total, done });
  const hashOptions: Parameters<typeof hashFiles>[1] = {
    onProgress: (n) => {
      done += n;
      options.onProgress?.({ total, done });
    },
  };
  if (options.workers !== undefined) hashOptions.workers = options.workers;
  const results = await hashFiles(
    toHash.map((x) => x.job),
    hashOptions,
  ).catch((e: unknown) => {
    throw fsError(e, { path: layout.name, side: 'input', what: 'hash the blobs' });
  });
  results.forEach((res, i) => {
    const { entry, job } = toHash[i] as { entry: Entry; job: HashJob };
    const d = entry.descriptor;
    const rel = blobRelPath(parseDigest(d.digest));
    // Out of file descriptors says nothing about the blob: the run fails, coded by cause.
    if ('error' in res && (res.error === 'EMFILE' || res.error === 'ENFILE')) {
      throw fsError(Object.assign(new Error(res.error), { code: res.error }), {
        path: rel,
        side: 'input',
        what: 'hash the blob',
      });
    }
    if ('error' in res) {
      walker.problem(
        entry,
        new OcikitError(
          ErrorCode.BlobUnreadable,
          `blob ${d.digest} at ${rel} cannot be read (${res.error})`,
          { hint: 'Check the permissions of the layout.' },
        ),
      );
    } else if (`${job.algorithm}:${res.hex}` !== d.digest) {
      walker.problem(
        entry,
        new OcikitError(
          ErrorCode.BlobDigestMismatch,
          `blob ${d.digest} at ${rel} has content with digest ${job.algorithm}:${res.hex}`,
          {
            hint: 'The blob is corrupt; copy the layout again from its source.',
          },
        ),
      );
    }
  });

  if (options.platform === undefined && options.tag === undefined && options.digest === undefined) {
    // Whole layout: a tag that names two different manifests is a problem (buildx would
    // silently take the first one; resolve refuses it).
    for (const tag of layoutTags(layout)) {
      try {
        findTag(layout, tag);
      } catch (e) {
        const digests = isOcikitError(e, ErrorCode.TagAmbiguous) ? e.details['digests'] : undefined;
        if (!Array.isArray(digests)) throw e;
        for (const digest of digests) {
          const entry = typeof digest === 'string' ? walker.entries.get(digest) : undefined;
          if (entry !== undefined) walker.problem(entry, e);
        }
      }
    }
  }

  // Deterministic output: references and problems sorted, whatever order the walk took.
  for (const e of entries) e.refs.sort((a, b) => compare(refKey(a), refKey(b)));
  const problems = entries.flatMap((e) =>
    e.problems.map((p) => ({
      ...p,
      message: `${p.message}; referenced by ${describeRefs(e.refs)}`,
    })),
  );
  problems.sort(
    (a, b) =>
      compare(a.digest, b.digest) || compare(a.code, b.code) || compare(a.message, b.message),
  );
  return {
    ok: problems.length === 0,
    blobs: entries.length,
    bytes: entries.reduce((n, e) => n + e.descriptor.size, 0),
    digests: options.noDigests !== true,
    roots,
    problems,
    warnings: [...layout.warnings],
  };
}
