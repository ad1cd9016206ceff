/**
 * Types of the OCI layout files, with field names equal to their JSON keys, and the
 * parsers that validate raw JSON into them. A cast is not a parse: every value that leaves
 * this module has been checked.
 *
 * Real producers deviate from the spec in small ways (rules_oci writes an index.json
 * without `schemaVersion` and `mediaType`; scratch images may carry `"diff_ids": null`).
 * Such deviations go through {@link Lenience}: a warning by default, an error in strict mode.
 */
import { parseDigest } from './digest.js';
import { ErrorCode, OcikitError, quote, quoteJson } from '../errors.js';
import { isIndexMediaType, isManifestMediaType } from './media-types.js';

/** An OCI platform object. */
export interface Platform {
  architecture: string;
  os: string;
  'os.version'?: string;
  'os.features'?: string[];
  variant?: string;
  features?: string[];
}

/** An OCI content descriptor. */
export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  data?: string;
  artifactType?: string;
  platform?: Platform;
}

/** An OCI image index or Docker manifest list (also the shape of `index.json`). */
export interface ImageIndex {
  schemaVersion: number;
  mediaType?: string;
  artifactType?: string;
  manifests: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

/** An OCI image manifest or Docker v2 schema 2 manifest. */
export interface ImageManifest {
  schemaVersion: number;
  mediaType?: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

/**
 * The parts of an image configuration that ocikit uses. `architecture` and `os` are `''` only
 * when the config has them empty (go-containerregistry's empty base image, `crane append
 * --oci-empty-base`), tolerated with the warning `OCIKIT_W_NO_PLATFORM`: the image has no
 * platform.
 */
export interface ImageConfig {
  architecture: string;
  os: string;
  variant?: string;
  'os.version'?: string;
  rootfs: { type: string; diff_ids: string[] };
}

/** The `oci-layout` file. */
export interface OciLayoutFile {
  imageLayoutVersion: string;
}

/** A deviation from the spec that ocikit tolerated. */
export interface Warning {
  code: string;
  message: string;
}

/**
 * Decides what happens to tolerable deviations: collected as warnings, or (strict) thrown as
 * `OCIKIT_SCHEMA_INVALID`.
 */
export class Lenience {
  readonly warnings: Warning[] = [];
  constructor(readonly strict = false) {}

  deviation(code: string, message: string): void {
    if (this.strict) {
      throw new OcikitError(ErrorCode.SchemaInvalid, `${message} (rejected by --strict)`, {
        hint: 'Fix the producer of this layout, or run without --strict to accept it with a warning.',
        details: { deviation: code },
      });
    }
    if (!this.warnings.some((w) => w.code === code && w.message === message)) {
      this.warnings.push({ code, message });
    }
  }
}

type Json = unknown;
type Obj = Record<string, Json>;

function invalid(where: string, message: string, hint?: string): OcikitError {
  return new OcikitError(ErrorCode.SchemaInvalid, `${where}: ${message}`, {
    hint:
      hint ?? 'The file does not follow the OCI image spec; regenerate it with a conforming tool.',
  });
}

function isObj(v: Json): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function obj(v: Json, where: string): Obj {
  if (!isObj(v)) throw invalid(where, 'must be a JSON object');
  return v;
}

function str(o: Obj, key: string, where: string): string {
  const v = o[key];
  if (typeof v !== 'string' || v === '')
    throw invalid(where, `"${key}" must be a non-empty string`);
  return v;
}

function optStr(o: Obj, key: string, where: string): string | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw invalid(where, `"${key}" must be a string`);
  return v;
}

function optStrArray(o: Obj, key: string, where: string): string[] | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) {
    throw invalid(where, `"${key}" must be an array of strings`);
  }
  return v as string[];
}

function optAnnotations(o: Obj, where: string): Record<string, string> | undefined {
  const v = o['annotations'];
  if (v === undefined || v === null) return undefined;
  if (!isObj(v)) throw invalid(where, '"annotations" must be an object of strings');
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(v)) {
    if (typeof val !== 'string') throw invalid(where, `annotation ${quote(k)} must be a string`);
    out[k] = val;
  }
  return out;
}

// RFC 6838 type/subtype, with the +suffix and parameters tolerated.
const MEDIA_TYPE =
  /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}(;.*)?$/;

/** Validate a platform object. */
export function parsePlatform(v: Json, where: string): Platform {
  const o = obj(v, where);
  const p: Platform = { architecture: str(o, 'architecture', where), os: str(o, 'os', where) };
  const osVersion = optStr(o, 'os.version', where);
  if (osVersion !== undefined) p['os.version'] = osVersion;
  const osFeatures = optStrArray(o, 'os.features', where);
  if (osFeatures !== undefined) p['os.features'] = osFeatures;
  const variant = optStr(o, 'variant', where);
  if (variant !== undefined && variant !== '') p.variant = variant;
  const features = optStrArray(o, 'features', where);
  if (features !== undefined) p.features = features;
  return p;
}

/** Validate a descriptor: media type grammar, digest grammar, non-negative integer size. */
export function parseDescriptor(v: Json, where: string): Descriptor {
  const o = obj(v, where);
  const mediaType = str(o, 'mediaType', where);
  if (!MEDIA_TYPE.test(mediaType))
    throw invalid(where, `"mediaType" ${quote(mediaType)} is not a media type`);
  const digest = parseDigest(o['digest'], () => `${where}.digest`).value;
  const size = o['size'];
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    throw invalid(where, '"size" must be a non-negative integer');
  }
  const d: Descriptor = { mediaType, digest, size };
  const urls = optStrArray(o, 'urls', where);
  if (urls !== undefined) d.urls = urls;
  const annotations = optAnnotations(o, where);
  if (annotations !== undefined) d.annotations = annotations;
  const data = optStr(o, 'data', where);
  if (data !== undefined) d.data = data;
  const artifactType = optStr(o, 'artifactType', where);
  if (artifactType !== undefined) d.artifactType = artifactType;
  if (o['platform'] !== undefined && o['platform'] !== null) {
    d.platform = parsePlatform(o['platform'], `${where}.platform`);
  }
  return d;
}

function descriptorList(o: Obj, key: string, where: string, lenience: Lenience): Descriptor[] {
  const v = o[key];
  if (v === null || v === undefined) {
    lenience.deviation(
      'OCIKIT_W_NULL_LIST',
      `${where}: "${key}" is ${v === null ? 'null' : 'missing'}; read as an empty list`,
    );
    return [];
  }
  if (!Array.isArray(v)) throw invalid(where, `"${key}" must be an array`);
  return v.map((item, i) => parseDescriptor(item, `${where}.${key}[${i}]`));
}

function schemaVersion(o: Obj, where: string, lenience: Lenience): number {
  const v = o['schemaVersion'];
  if (v === undefined) {
    lenience.deviation(
      'OCIKIT_W_NO_SCHEMA_VERSION',
      `${where}: "schemaVersion" is missing; assumed 2`,
    );
    return 2;
  }
  if (v !== 2) {
    throw invalid(
      where,
      `"schemaVersion" is ${quoteJson(v)}, expected 2`,
      'Only schema version 2 images (OCI, Docker v2.2) are supported.',
    );
  }
  return 2;
}

function withCommon<
  T extends {
    mediaType?: string;
    artifactType?: string;
    subject?: Descriptor;
    annotations?: Record<string, string>;
  },
>(target: T, o: Obj, where: string): T {
  const mediaType = optStr(o, 'mediaType', where);
  if (mediaType !== undefined) target.mediaType = mediaType;
  const artifactType = optStr(o, 'artifactType', where);
  if (artifactType !== undefined) target.artifactType = artifactType;
  if (o['subject'] !== undefined && o['subject'] !== null)
    target.subject = parseDescriptor(o['subject'], `${where}.subject`);
  const annotations = optAnnotations(o, where);
  if (annotations !== undefined) target.annotations = annotations;
  return target;
}

/**
 * Validate an image index (or Docker manifest list, or `index.json`).
 */
export function parseImageIndex(v: Json, where: string, lenience: Lenience): ImageIndex {
  const o = obj(v, where);
  const index = withCommon<ImageIndex>(
    { schemaVersion: schemaVersion(o, where, lenience), manifests: [] },
    o,
    where,
  );
  // mediaType is optional in an index (a SHOULD): umoci, skopeo and buildx 0.13 omit it.
  if (index.mediaType !== undefined && !isIndexMediaType(index.mediaType)) {
    throw invalid(where, `"mediaType" is ${quote(index.mediaType)}, not an image index`);
  }
  if (o['manifests'] === undefined && o['layers'] !== undefined) {
    throw invalid(where, 'is an image manifest, but an image index was expected');
  }
  index.manifests = descriptorList(o, 'manifests', where, lenience);
  return index;
}

/** Validate an image manifest (OCI or Docker v2 schema 2). */
export function parseImageManifest(v: Json, where: string, lenience: Lenience): ImageManifest {
  const o = obj(v, where);
  if (o['config'] === undefined && o['manifests'] !== undefined) {
    throw invalid(where, 'is an image index, but an image manifest was expected');
  }
  const version = schemaVersion(o, where, lenience);
  if (o['config'] === undefined || o['config'] === null)
    throw invalid(where, '"config" is missing');
  const manifest = withCommon<ImageManifest>(
    { schemaVersion: version, config: parseDescriptor(o['config'], `${where}.config`), layers: [] },
    o,
    where,
  );
  if (manifest.mediaType !== undefined && !isManifestMediaType(manifest.mediaType)) {
    throw invalid(where, `"mediaType" is ${quote(manifest.mediaType)}, not an image manifest`);
  }
  manifest.layers = descriptorList(o, 'layers', where, lenience);
  return manifest;
}

/** Validate the parts of an image configuration that ocikit uses. */
export function parseImageConfig(v: Json, where: string, lenience: Lenience): ImageConfig {
  const o = obj(v, where);
  const config: ImageConfig = {
    architecture: o['architecture'] === '' ? '' : str(o, 'architecture', where),
    os: o['os'] === '' ? '' : str(o, 'os', where),
    rootfs: { type: 'layers', diff_ids: [] },
  };
  if (config.architecture === '' || config.os === '') {
    // The spec requires both; go-containerregistry's empty.Image writes "" for each.
    lenience.deviation(
      'OCIKIT_W_NO_PLATFORM',
      `${where}: "architecture" or "os" is empty (as go-containerregistry's empty base image writes them); read as an image without a platform`,
    );
  }
  const variant = optStr(o, 'variant', where);
  if (variant !== undefined && variant !== '') config.variant = variant;
  const osVersion = optStr(o, 'os.version', where);
  if (osVersion !== undefined) config['os.version'] = osVersion;
  const rootfs = o['rootfs'];
  if (rootfs === undefined || rootfs === null) {
    lenience.deviation('OCIKIT_W_NO_ROOTFS', `${where}: "rootfs" is missing; read as zero layers`);
  } else {
    const r = obj(rootfs, `${where}.rootfs`);
    config.rootfs.type = str(r, 'type', `${where}.rootfs`);
    const ids = r['diff_ids'];
    if (ids === null || ids === undefined) {
      // BuildKit writes "diff_ids": null for images with no layers (FROM scratch): normal.
      config.rootfs.diff_ids = [];
    } else if (!Array.isArray(ids)) {
      throw invalid(`${where}.rootfs`, '"diff_ids" must be an array');
    } else {
      config.rootfs.diff_ids = ids.map(
        (d, i) => parseDigest(d, () => `${where}.rootfs.diff_ids[${i}]`).value,
      );
    }
  }
  return config;
}

/** Validate the `oci-layout` file. */
export function parseOciLayoutFile(v: Json, where: string): OciLayoutFile {
  const o = obj(v, where);
  const version = o['imageLayoutVersion'];
  if (typeof version !== 'string') throw invalid(where, '"imageLayoutVersion" must be a string');
  if (!/^1\.\d+\.\d+$/.test(version)) {
    throw new OcikitError(
      ErrorCode.LayoutInvalid,
      `${where}: imageLayoutVersion ${quoteJson(version)} is not supported`,
      {
        hint: 'ocikit reads OCI image layout version 1.x.',
      },
    );
  }
  return { imageLayoutVersion: version };
}
