/**
 * ocikit's library API: open, resolve, inspect and verify OCI image layouts without writing
 * to them. The CLI (`ocikit`) is a thin layer over these functions.
 */
export { ErrorCode, OcikitError, isOcikitError, type OcikitErrorOptions } from './errors.js';
export {
  parseDigest,
  blobRelPath,
  shortDigest,
  isHashable,
  HASH_ALGORITHMS,
  type Digest,
} from './digest.js';
export {
  MediaType,
  Annotation,
  MAX_JSON_BYTES,
  isIndexMediaType,
  isManifestMediaType,
  isImageConfigMediaType,
  isDockerMediaType,
  kindOfMediaType,
  type ContentKind,
} from './media-types.js';
export {
  parseDescriptor,
  parseImageIndex,
  parseImageManifest,
  parseImageConfig,
  parseOciLayoutFile,
  Lenience,
  type Descriptor,
  type ImageIndex,
  type ImageManifest,
  type ImageConfig,
  type OciLayoutFile,
  type Platform,
  type Warning,
} from './schema.js';
export {
  parsePlatform,
  formatPlatform,
  normalizePlatform,
  platformMatches,
  isAttestation,
} from './platform.js';
export {
  openLayout,
  Layout,
  digestBytes,
  type OpenOptions,
  type BlobFile,
  type JsonBlob,
} from './layout.js';
export {
  resolve,
  findTag,
  findDigest,
  layoutTags,
  manifestPlatform,
  type ResolveOptions,
  type Resolved,
  type MatchedBy,
} from './resolve.js';
export {
  verifyLayout,
  type VerifyOptions,
  type VerifyReport,
  type Problem,
  type Reference,
} from './verify.js';
export {
  inspectLayout,
  type LayoutSummary,
  type ImageSummary,
  type ManifestSummary,
} from './inspect.js';
export {
  hashFiles,
  hashFileSync,
  type HashJob,
  type HashResult,
  type HashOptions,
} from './hash.js';
export {
  mergeIndex,
  parseIndexAnnotation,
  parseIndexSource,
  type MergeOptions,
  type MergeResult,
  type MergedManifest,
  type MergedBlob,
  type IndexAnnotation,
} from './index-merge.js';
export { type LinkMode } from './take-blobs.js';
export { packLayout, type PackOptions, type PackResult } from './archive/pack.js';
export {
  unpackArchive,
  extractLayoutArchive,
  type UnpackOptions,
  type UnpackResult,
  type ExtractResult,
} from './archive/unpack.js';
export { unpackContextArchive, isArchiveFile } from './archive/context.js';
export {
  prepareContexts,
  contextDirName,
  type ContextRequest,
  type PrepareOptions,
  type PreparedContext,
  type PreparedContexts,
  type Strategy,
  type Mode,
} from './context.js';
export { writeThinCopy, canonicalJson, type ThinCopy, type LinkKind } from './thin-copy.js';
export { pendingDir, writeFileAtomic, type PendingDir } from './out-dir.js';
export {
  parseBuildxVersion,
  buildxBehaviour,
  formatBuildxVersion,
  type BuildxVersion,
  type BuildxBehaviour,
} from './buildx/compat.js';
export { detectBuildxVersion, type Detected } from './buildx/detect.js';
export {
  parseLayoutRef,
  formatLayoutRef,
  pathNeedsRemap,
  isValidTag,
  OCI_LAYOUT_SCHEME,
  type LayoutRef,
} from './buildx/ref.js';
export {
  parseBuildArgs,
  flagsFromConfig,
  flagsToArgv,
  mergeFlags,
  FLAGS,
  type BuildFlags,
} from './buildx/flags.js';
export {
  buildxInvocation,
  classifyContext,
  dockerfileReferences,
  shellQuote,
  type Invocation,
  type InvocationOptions,
} from './buildx/args.js';
export { RawJsonStream, LOG_TAIL, type Vertex, type StreamEvent } from './buildx/stream.js';
export {
  parseAnnotation,
  missingAnnotations,
  repairAnnotations,
  type AnnotationRequest,
  type AnnotationTarget,
  type MissingAnnotation,
} from './buildx/annotations.js';
export { preflight, spawnRunner, type Preflight, type Runner } from './buildx/preflight.js';
export { build, type BuildOptions, type BuildResult } from './build.js';
