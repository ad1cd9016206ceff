/**
 * Builds OCI layouts for tests, deterministically: same calls, same bytes.
 * Layers are real gzip'd tars (a tiny ustar writer), so buildx and skopeo accept them.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import type { Descriptor, Platform } from '../../src/layout/schema.js';

export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const OCI_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';

function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

function tarHeader(name: string, size: number, mode: number): Buffer {
  const h = Buffer.alloc(512, 0);
  h.write(name, 0, 100, 'utf8');
  h.write(`${mode.toString(8).padStart(7, '0')}\0`, 100);
  h.write('0000000\0', 108); // uid
  h.write('0000000\0', 116); // gid
  h.write(`${size.toString(8).padStart(11, '0')}\0`, 124);
  h.write('00000000000\0', 136); // mtime 0
  h.write('        ', 148); // checksum placeholder
  h.write('0', 156); // regular file
  h.write('ustar\0', 257);
  h.write('00', 263);
  let sum = 0;
  for (const byte of h) sum += byte;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  return h;
}

/** A tar archive (uncompressed) holding the given files, sorted by name. */
export function tarOf(files: Record<string, string | Buffer>): Buffer {
  const parts: Buffer[] = [];
  for (const name of Object.keys(files).sort()) {
    const content = Buffer.from(files[name] as string | Buffer);
    parts.push(
      tarHeader(name, content.length, 0o644),
      content,
      Buffer.alloc((512 - (content.length % 512)) % 512),
    );
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

export interface ImageSpec {
  platform: Platform;
  /** Files of each layer; [] for a zero-layer (FROM scratch) image. */
  layers: Record<string, string | Buffer>[];
  /** Put the platform on the manifest descriptor (as indexes do). Default true. */
  platformOnDescriptor?: boolean;
  annotations?: Record<string, string>;
  /** Extra layer descriptors (e.g. missing blobs) appended after the real layers. */
  extraLayers?: Descriptor[];
}

export class LayoutBuilder {
  constructor(readonly dir: string) {
    mkdirSync(path.join(dir, 'blobs', 'sha256'), { recursive: true });
    writeFileSync(path.join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  }

  /** Store bytes as a blob; returns its descriptor. */
  blob(bytes: Buffer | string, mediaType: string): Descriptor {
    const b = Buffer.from(bytes);
    const hex = sha256(b);
    writeFileSync(path.join(this.dir, 'blobs', 'sha256', hex), b);
    return { mediaType, digest: `sha256:${hex}`, size: b.length };
  }

  json(value: unknown, mediaType: string): Descriptor {
    return this.blob(JSON.stringify(value), mediaType);
  }

  layer(files: Record<string, string | Buffer>): { descriptor: Descriptor; diffId: string } {
    const tar = tarOf(files);
    return {
      descriptor: this.blob(gzipSync(tar, { level: 9 }), OCI_LAYER_GZIP),
      diffId: `sha256:${sha256(tar)}`,
    };
  }

  /** An image manifest (and its config and layers). */
  image(spec: ImageSpec): Descriptor {
    const layers = spec.layers.map((files) => this.layer(files));
    const config = this.json(
      {
        architecture: spec.platform.architecture,
        os: spec.platform.os,
        ...(spec.platform.variant !== undefined ? { variant: spec.platform.variant } : {}),
        config: {},
        rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
      },
      OCI_CONFIG,
    );
    const manifest: Record<string, unknown> = {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config,
      layers: [...layers.map((l) => l.descriptor), ...(spec.extraLayers ?? [])],
    };
    if (spec.annotations !== undefined) manifest['annotations'] = spec.annotations;
    const d = this.json(manifest, OCI_MANIFEST);
    return spec.platformOnDescriptor === false ? d : { ...d, platform: spec.platform };
  }

  /**
   * A linux/amd64 manifest (and its config) over layer descriptors made elsewhere (a sparse
   * file, an empty blob): the config's diff_ids are the layers' digests.
   */
  manifestOver(layers: Descriptor[]): Descriptor {
    const diffIds = layers.map((l) => l.digest);
    const config = this.json(
      { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: diffIds } },
      OCI_CONFIG,
    );
    return this.json({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers }, OCI_MANIFEST);
  }

  /** An image index over the given manifests. */
  index(manifests: Descriptor[], annotations?: Record<string, string>): Descriptor {
    const idx: Record<string, unknown> = { schemaVersion: 2, mediaType: OCI_INDEX, manifests };
    if (annotations !== undefined) idx['annotations'] = annotations;
    return this.json(idx, OCI_INDEX);
  }

  /** Write index.json. `raw` replaces the whole document. */
  writeIndex(manifests: Descriptor[], options: { raw?: unknown } = {}): void {
    const doc = options.raw ?? { schemaVersion: 2, mediaType: OCI_INDEX, manifests };
    writeFileSync(path.join(this.dir, 'index.json'), JSON.stringify(doc));
  }
}

/** Tag a descriptor the way index.json entries are tagged. */
export function tagged(
  d: Descriptor,
  tag: string,
  key = 'org.opencontainers.image.ref.name',
): Descriptor {
  return { ...d, annotations: { ...(d.annotations ?? {}), [key]: tag } };
}

/**
 * The standard test layout: tag `multi` = index of linux/amd64 (one layer) and linux/arm64
 * (zero layers, FROM scratch); tag `single` = a linux/amd64 image with two layers.
 */
export function standardLayout(dir: string): {
  multi: Descriptor;
  single: Descriptor;
  amd64: Descriptor;
  arm64: Descriptor;
} {
  const b = new LayoutBuilder(dir);
  const amd64 = b.image({
    platform: { os: 'linux', architecture: 'amd64' },
    layers: [{ 'hello.txt': 'hello from amd64\n' }],
  });
  const arm64 = b.image({
    platform: { os: 'linux', architecture: 'arm64', variant: 'v8' },
    layers: [],
  });
  const multi = b.index([amd64, arm64]);
  const single = b.image({
    platform: { os: 'linux', architecture: 'amd64' },
    layers: [{ 'a.txt': 'a\n' }, { 'b.txt': 'b\n' }],
    platformOnDescriptor: false,
  });
  b.writeIndex([tagged(multi, 'multi'), tagged(single, 'single')]);
  return { multi, single, amd64, arm64 };
}
