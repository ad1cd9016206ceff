/**
 * Reading what a build produced, independently of ocikit: index.json → (nested) indexes →
 * image manifests per platform, and the files their layers hold (a small tar reader with
 * pax `path` support; gzip'd or plain layers; whiteouts applied).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';

export interface Desc {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { os: string; architecture: string; variant?: string };
  annotations?: Record<string, string>;
}

/** One image manifest of a layout. */
export interface ImageFiles {
  digest: string;
  /** os/arch[/variant] from the descriptor, else from the config. */
  platform: string;
  attestation: boolean;
  layers: number;
  /** Files after applying all layers in order: path (no leading / or ./) → content. */
  files: Record<string, string>;
}

const isIndex = (mt: string): boolean =>
  mt.endsWith('image.index.v1+json') || mt.endsWith('manifest.list.v2+json');

/** Where a layout keeps the blob `digest` (no check that it is there). */
export function blobPath(dir: string, digest: string): string {
  const [alg, hex] = digest.split(':');
  return path.join(dir, 'blobs', alg ?? '', hex ?? '');
}

export function readJson<T = Record<string, unknown>>(file: string): T {
  return JSON.parse(readFileSync(file, 'utf8')) as T;
}

/** The entries of a tar archive (regular files only), in archive order. */
export function tarFiles(tar: Buffer): { name: string; type: string; content: Buffer }[] {
  const out: { name: string; type: string; content: Buffer }[] = [];
  let off = 0;
  let paxPath: string | undefined;
  while (off + 512 <= tar.length) {
    const h = tar.subarray(off, off + 512);
    if (h.every((b) => b === 0)) break;
    const str = (a: number, n: number): string => {
      const s = h.subarray(a, a + n);
      const z = s.indexOf(0);
      return s.subarray(0, z < 0 ? n : z).toString('utf8');
    };
    const size = parseInt(str(124, 12).trim() || '0', 8);
    const type = str(156, 1) || '0';
    const prefix = str(257, 6).startsWith('ustar') ? str(345, 155) : '';
    const name = paxPath ?? (prefix !== '' ? `${prefix}/${str(0, 100)}` : str(0, 100));
    const content = tar.subarray(off + 512, off + 512 + size);
    off += 512 + Math.ceil(size / 512) * 512;
    if (type === 'x') {
      for (const rec of content.toString('utf8').split('\n')) {
        const m = /^\d+ path=(.*)$/.exec(rec);
        if (m) paxPath = m[1];
      }
      continue;
    }
    if (type === 'g') continue;
    paxPath = undefined;
    out.push({ name: name.replace(/^(\.\/|\/)+/, '').replace(/\/$/, ''), type, content });
  }
  return out;
}

function applyLayer(files: Record<string, string>, tar: Buffer): void {
  for (const e of tarFiles(tar)) {
    const base = path.posix.basename(e.name);
    const dir = path.posix.dirname(e.name);
    if (base === '.wh..wh..opq') {
      for (const k of Object.keys(files)) if (k.startsWith(`${dir}/`)) delete files[k];
    } else if (base.startsWith('.wh.')) {
      const victim = dir === '.' ? base.slice(4) : `${dir}/${base.slice(4)}`;
      for (const k of Object.keys(files))
        if (k === victim || k.startsWith(`${victim}/`)) delete files[k];
    } else if (e.type === '0' || e.type === '\0') {
      files[e.name] = e.content.toString('utf8');
    }
  }
}

function platformOf(dir: string, d: Desc, configDigest: string): string {
  const p =
    d.platform ??
    readJson<{ os: string; architecture: string; variant?: string }>(blobPath(dir, configDigest));
  return [p.os, p.architecture, p.variant].filter((x) => x !== undefined && x !== '').join('/');
}

/** Every image manifest reachable from `root` (a descriptor of index.json), with its files. */
export function imagesOf(dir: string, root: Desc): ImageFiles[] {
  const out: ImageFiles[] = [];
  const walk = (d: Desc): void => {
    const doc = readJson(blobPath(dir, d.digest));
    if (isIndex(d.mediaType)) {
      for (const child of (doc['manifests'] as Desc[] | null) ?? []) walk(child);
      return;
    }
    const config = doc['config'] as Desc;
    const layers = (doc['layers'] as Desc[] | null) ?? [];
    const files: Record<string, string> = {};
    for (const l of layers) {
      const raw = readFileSync(blobPath(dir, l.digest));
      applyLayer(files, raw[0] === 0x1f && raw[1] === 0x8b ? gunzipSync(raw) : raw);
    }
    out.push({
      digest: d.digest,
      platform: platformOf(dir, d, config.digest),
      attestation: d.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest',
      layers: layers.length,
      files,
    });
  };
  walk(root);
  return out;
}

/** The descriptors of index.json. */
export function indexEntries(dir: string): Desc[] {
  return readJson<{ manifests: Desc[] }>(path.join(dir, 'index.json')).manifests;
}

/** Normalise os/arch[/variant] the way containerd does for the arm64 default variant. */
export function normPlatform(p: string): string {
  return p === 'linux/arm64/v8' ? 'linux/arm64' : p;
}

/**
 * Every descriptor reachable from `root` in layout `dir`, `root` first, each digest once:
 * indexes to their manifests, manifests to their config and layers.
 */
export function graphOf(dir: string, root: Desc): Desc[] {
  const seen = new Map<string, Desc>();
  const walk = (d: Desc): void => {
    if (seen.has(d.digest)) return;
    seen.set(d.digest, d);
    if (isIndex(d.mediaType)) {
      const doc = readJson(blobPath(dir, d.digest));
      for (const child of (doc['manifests'] as Desc[] | null) ?? []) walk(child);
    } else if (
      d.mediaType.endsWith('manifest.v1+json') ||
      d.mediaType.endsWith('manifest.v2+json')
    ) {
      const doc = readJson(blobPath(dir, d.digest));
      walk(doc['config'] as Desc);
      for (const l of (doc['layers'] as Desc[] | null) ?? []) walk(l);
    }
  };
  walk(root);
  return [...seen.values()];
}
