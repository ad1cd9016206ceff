/**
 * Verifying a layout: every blob reachable from the selection (or from index.json) exists as
 * a regular file, with the declared size and digest. All problems are collected, each naming
 * the blob, what references it, and the tag and platform it belongs to.
 */
import { blobRelPath, isHashable, parseDigest, type Digest } from './digest.js';
import {
  ErrorCode,
  OcikitError,
  environmentError,
  fsError,
  isOcikitError,
  quote,
} from '../errors.js';
// hash.ts (node:crypto, worker threads) loads when something is hashed: the base check of
// sizes, the common case, never needs it.
import type { HashJob, HashOptions } from './hash.js';
import type { Layout } from './layout.js';
import {
  Annotation,
  isForeignLayerMediaType,
  kindOfMediaType,
  type ContentKind,
} from './media-types.js';
import { edgeContexts, walkGraph } from './graph.js';
import { locateDigest, findTag, layoutTags, resolve, type ResolveOptions } from './resolve.js';
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
  /** Stops the hashing when aborted; the call rejects with the signal's reason. */
  signal?: AbortSignal;
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
  /** The parsed digest; undefined when it is invalid (a problem is recorded). */
  parsed?: Digest;
  kind: ContentKind;
  refs: Reference[];
  problems: Problem[];
  /** Set when the content was read and hashed while walking (metadata). */
  hashed: boolean;
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

/** The blobs reachable from the roots, each once, with how they are referenced. */
class Walker {
  readonly entries = new Map<string, Entry>();

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

  /**
   * Walk from the roots with the one graph walk (each digest read once, one depth limit,
   * cycles found), then check what the walk read: the digest of every index, manifest and
   * config, and configs' structure. `parent` names a root's referencing index (index.json,
   * or the index a located digest sits in).
   */
  async walk(
    roots: readonly { descriptor: Descriptor; tag?: string; parent: string }[],
  ): Promise<void> {
    const graph = await walkGraph(
      this.layout,
      roots.map((r) =>
        r.tag !== undefined
          ? { descriptor: r.descriptor, tag: r.tag }
          : { descriptor: r.descriptor },
      ),
      { tolerant: true, verifyDigests: false, readConfigs: true },
    );
    const rootParent = new Map(roots.map((r) => [r.descriptor.digest, r.parent]));
    for (const node of graph.nodes.values()) {
      const entry: Entry = {
        descriptor: node.descriptor,
        kind: kindOfMediaType(node.descriptor.mediaType),
        refs: [],
        problems: [],
        hashed: false,
      };
      this.entries.set(node.digest, entry);
      const seenRefs = new Set<string>();
      for (const edge of node.parents) {
        const parent =
          edge.parent === 'index.json'
            ? (rootParent.get(node.digest) ?? 'index.json')
            : edge.parent;
        const known = edgeContexts(graph, node, edge);
        const contexts = known.length > 0 ? known : [{ attestation: false }];
        for (const c of contexts) {
          const ref: Reference = { parent, role: edge.role };
          if (c.tag !== undefined) ref.tag = c.tag;
          if (c.platform !== undefined) ref.platform = c.platform;
          if (c.attestation) ref.attestation = true;
          const key = refKey(ref);
          if (seenRefs.has(key)) continue;
          seenRefs.add(key);
          entry.refs.push(ref);
        }
      }
      try {
        entry.parsed = parseDigest(node.digest);
      } catch (e) {
        this.problem(entry, e);
        continue;
      }
      const sizes = [...new Set(node.parents.map((edge) => edge.descriptor.size))];
      if (sizes.length > 1) {
        this.problem(
          entry,
          new OcikitError(
            ErrorCode.BlobSizeMismatch,
            `blob ${node.digest} is referenced with sizes ${sizes.join(' and ')}`,
            {
              hint: 'One of the referencing descriptors is wrong; regenerate the layout.',
              details: { digest: node.digest },
            },
          ),
        );
      }
      // A node the walk could not expand still has its own bytes checked (a cycle is also a
      // corrupt blob); one that could not be read reports that once (problems are deduplicated).
      if (node.problem !== undefined) this.problem(entry, node.problem);
      if (entry.kind === 'blob') continue; // layers and other blobs: the file stage
      try {
        const blob = await this.layout.readJsonBlob(node.descriptor, { verifyDigest: false });
        entry.hashed = true;
        if (blob.actualDigest !== node.digest) {
          this.problem(
            entry,
            new OcikitError(
              ErrorCode.BlobDigestMismatch,
              `blob ${node.digest} at ${blobRelPath(entry.parsed)} has content with digest ${blob.actualDigest}`,
              { hint: 'The blob is corrupt; copy the layout again from its source.' },
            ),
          );
        }
        if (entry.kind === 'config')
          await this.layout.readConfig(node.descriptor, { verifyDigest: false });
      } catch (e) {
        this.problem(entry, e);
      }
    }
  }
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
  const selected: { descriptor: Descriptor; tag?: string; parent: string }[] = [];
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
    const parent =
      located.path.length > 1 ? (located.path[located.path.length - 2] as string) : 'index.json';
    selected.push({
      descriptor: located.descriptor,
      parent,
      ...(options.tag !== undefined ? { tag: options.tag } : {}),
    });
  } else if (options.platform !== undefined) {
    const r = await resolve(layout, options);
    const parent = r.path.length > 1 ? (r.path[r.path.length - 2] as string) : 'index.json';
    selected.push({
      descriptor: r.descriptor,
      parent,
      ...(r.tag !== undefined ? { tag: r.tag } : {}),
    });
  } else {
    for (const d of layout.index.manifests) {
      const tag =
        d.annotations?.[Annotation.RefName] ?? d.annotations?.[Annotation.ContainerdImageName];
      selected.push({ descriptor: d, parent: 'index.json', ...(tag !== undefined ? { tag } : {}) });
    }
  }
  const roots = [...new Set(selected.map((r) => r.descriptor.digest))];
  await walker.walk(selected);

  // File checks for every blob not already read (synchronous: a few metadata syscalls per
  // blob, cheaper than a thread-pool round trip each), then hashing.
  const entries = [...walker.entries.values()];
  const toHash: { entry: Entry; job: HashJob }[] = [];
  for (const entry of entries) {
    if (entry.problems.length > 0 || entry.hashed) continue;
    const d = entry.descriptor;
    const digest = entry.parsed ?? parseDigest(d.digest);
    try {
      const file = layout.locateBlobSync(digest);
      if (file.size !== d.size) {
        throw new OcikitError(
          ErrorCode.BlobSizeMismatch,
          `blob ${d.digest} at ${file.relPath} is ${file.size} bytes, the descriptor says ${d.size}`,
          {
            hint: 'The blob is truncated or was replaced; copy the layout again from its source.',
          },
        );
      }
      if (options.noDigests) continue;
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
        continue;
      }
      if (isOcikitError(e, ErrorCode.BlobMissing) && isForeignLayerMediaType(d.mediaType)) {
        // Its producer kept it out on purpose (oras push does): copying again will not bring it.
        walker.problem(
          entry,
          new OcikitError(ErrorCode.BlobMissing, e.message, {
            hint: `It is a non-distributable layer (${d.mediaType}) without urls: producers keep these out of layouts (oras push does), so copying the layout again will not bring it. Put the layer's blob into blobs/ from where the layer comes from, or use an image without non-distributable layers.`,
            details: e.details,
          }),
        );
        continue;
      }
      walker.problem(entry, e);
    }
  }
  toHash.sort((a, b) => (a.entry.descriptor.digest < b.entry.descriptor.digest ? -1 : 1));
  const total = toHash.reduce((n, x) => n + x.job.size, 0);
  let done = 0;
  options.onProgress?.({ total, done });
  const hashOptions: HashOptions = {
    onProgress: (n) => {
      done += n;
      options.onProgress?.({ total, done });
    },
  };
  if (options.workers !== undefined) hashOptions.workers = options.workers;
  if (options.signal !== undefined) hashOptions.signal = options.signal;
  const hashing =
    toHash.length === 0
      ? Promise.resolve([])
      : import('./hash.js').then(({ hashFiles }) =>
          hashFiles(
            toHash.map((x) => x.job),
            hashOptions,
          ),
        );
  const results = await hashing.catch((e: unknown) => {
    if (options.signal?.aborted === true) throw options.signal.reason;
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
    // One pass over index.json finds the tags naming more than one digest; only those are
    // looked up again for the error (linear in index.json entries).
    const byTag = new Map<string, Set<string>>();
    for (const d of layout.index.manifests) {
      for (const key of [Annotation.ContainerdImageName, Annotation.RefName]) {
        const tag = d.annotations?.[key];
        if (tag === undefined) continue;
        const k = `${key}\0${tag}`;
        let set = byTag.get(k);
        if (set === undefined) byTag.set(k, (set = new Set()));
        set.add(d.digest);
      }
    }
    const suspects = new Set(
      [...byTag]
        .filter(([, digests]) => digests.size > 1)
        .map(([k]) => k.slice(k.indexOf('\0') + 1)),
    );
    for (const tag of layoutTags(layout).filter((t) => suspects.has(t))) {
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
