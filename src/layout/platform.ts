/**
 * Platform strings (`os/arch[/variant]`), normalisation as containerd does it, and matching.
 */
import { ErrorCode, OcikitError, quote } from '../errors.js';
import type { ImageConfig, Platform } from './schema.js';
import { Annotation } from './media-types.js';
import type { Descriptor } from './schema.js';

const PART = /^[a-z0-9_.-]+$/;

/**
 * Parse `os/arch[/variant]` (e.g. `linux/arm64/v8`).
 * @throws OcikitError `OCIKIT_PLATFORM_INVALID`
 */
export function parsePlatform(value: string): Platform {
  const parts = value.trim().toLowerCase().split('/');
  if (parts.length < 2 || parts.length > 3 || !parts.every((p) => PART.test(p))) {
    throw new OcikitError(
      ErrorCode.PlatformInvalid,
      `platform ${quote(value)} is not os/arch[/variant]`,
      {
        hint: 'Write the platform as buildx does, e.g. linux/amd64 or linux/arm/v7.',
      },
    );
  }
  const [os, architecture, variant] = parts as [string, string, string | undefined];
  return variant === undefined ? { os, architecture } : { os, architecture, variant };
}

/** `os/arch[/variant]` of a platform. */
export function formatPlatform(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter((x) => x !== undefined && x !== '').join('/');
}

/** Normalise architecture and variant aliases the way containerd's `platforms.Normalize` does. */
export function normalizePlatform(p: Platform): Platform {
  let os = p.os.toLowerCase();
  if (os === 'macos') os = 'darwin';
  let architecture = p.architecture.toLowerCase();
  let variant = (p.variant ?? '').toLowerCase();
  switch (architecture) {
    case 'i386':
      architecture = '386';
      variant = '';
      break;
    case 'x86_64':
    case 'x86-64':
    case 'amd64':
      architecture = 'amd64';
      if (variant === 'v1') variant = '';
      break;
    case 'aarch64':
    case 'arm64':
      architecture = 'arm64';
      if (variant === '8' || variant === 'v8' || variant === 'v8.0') variant = '';
      else if (variant === '9' || variant === '9.0' || variant === 'v9.0') variant = 'v9';
      break;
    case 'armhf':
      architecture = 'arm';
      variant = 'v7';
      break;
    case 'armel':
      architecture = 'arm';
      variant = 'v6';
      break;
    case 'arm':
      if (variant === '' || variant === '7') variant = 'v7';
      else if (variant === '5' || variant === '6' || variant === '8') variant = `v${variant}`;
      break;
  }
  return variant === '' ? { os, architecture } : { os, architecture, variant };
}

/**
 * True when `candidate` satisfies `wanted`. Without a wanted variant any variant of the
 * architecture matches (callers prefer exact matches; see {@link platformScore}).
 */
export function platformMatches(wanted: Platform, candidate: Platform): boolean {
  const w = normalizePlatform(wanted);
  const c = normalizePlatform(candidate);
  if (w.os !== c.os || w.architecture !== c.architecture) return false;
  return w.variant === undefined || w.variant === c.variant;
}

/**
 * The platforms a machine of `wanted` runs, best first, as containerd's `platforms.Only` lists
 * them (BuildKit picks a base image's manifest with it): `wanted` itself, then the older
 * variants of its architecture (`amd64/v3` → v2, v1; `arm/v7` → v6, v5), then `386` for
 * `amd64` and `arm/v8`, `arm/v7`, ... for `arm64`. Never a newer variant: for `linux/amd64`
 * buildx 0.29.1 finds no match in an index holding only `amd64/v3` (test/e2e/interop-producers.ts).
 */
export function compatiblePlatforms(wanted: Platform): Platform[] {
  const w = normalizePlatform(wanted);
  const out: Platform[] = [w];
  const level = (variant: string | undefined, none: number): number | undefined => {
    if (variant === undefined) return none;
    const m = /^v(\d+)$/.exec(variant);
    return m !== null ? Number(m[1]) : undefined;
  };
  const os = w.os;
  if (w.architecture === 'amd64') {
    for (let v = (level(w.variant, 1) ?? 1) - 1; v >= 1; v--)
      out.push(
        v === 1 ? { os, architecture: 'amd64' } : { os, architecture: 'amd64', variant: `v${v}` },
      );
    out.push({ os, architecture: '386' });
  } else if (w.architecture === 'arm') {
    for (let v = (level(w.variant, 7) ?? 0) - 1; v >= 5; v--)
      out.push({ os, architecture: 'arm', variant: `v${v}` });
  } else if (w.architecture === 'arm64') {
    out.push(...compatiblePlatforms({ os, architecture: 'arm', variant: w.variant ?? 'v8' }));
  }
  return out;
}

/**
 * How well `candidate` serves `wanted`: 0 when a machine of `wanted` cannot run it, else higher
 * for a better place in {@link compatiblePlatforms} (an exact match scores highest).
 */
export function platformScore(wanted: Platform, candidate: Platform): number {
  const vector = compatiblePlatforms(wanted);
  const c = normalizePlatform(candidate);
  const i = vector.findIndex(
    (v) => v.os === c.os && v.architecture === c.architecture && v.variant === c.variant,
  );
  return i < 0 ? 0 : vector.length - i;
}

/**
 * True for BuildKit attestation manifests in an index: platform `unknown/unknown` or the
 * `vnd.docker.reference.type: attestation-manifest` annotation.
 */
export function isAttestation(d: Descriptor): boolean {
  if (d.annotations?.[Annotation.DockerReferenceType] === 'attestation-manifest') return true;
  return d.platform?.os === 'unknown' && d.platform.architecture === 'unknown';
}

/**
 * The platform an image configuration names; undefined when `architecture` or `os` is empty
 * (go-containerregistry's empty base image: the image has no platform).
 */
export function configPlatform(config: ImageConfig): Platform | undefined {
  if (config.architecture === '' || config.os === '') return undefined;
  const p: Platform = { architecture: config.architecture, os: config.os };
  if (config.variant !== undefined) p.variant = config.variant;
  if (config['os.version'] !== undefined) p['os.version'] = config['os.version'];
  return p;
}
