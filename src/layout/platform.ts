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

/** 2 for an exact match, 1 for an os/arch match with another variant, 0 for no match. */
export function platformScore(wanted: Platform, candidate: Platform): number {
  if (!platformMatches(wanted, candidate)) return 0;
  return normalizePlatform(wanted).variant === normalizePlatform(candidate).variant ? 2 : 1;
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
