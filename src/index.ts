/**
 * ocikit's library API: what a program needs to open, resolve, verify and inspect OCI image
 * layouts without writing to them, prepare them as buildx build contexts, drive a build, and
 * merge, pack and unpack layouts. The CLI (`ocikit`) is a thin layer over these functions.
 * Internals (the tar reader, thin-copy writer, stream parser, hashing pool) are not exported;
 * see CHANGELOG.md for what left the API in 0.2.0.
 */

// Errors: one type with a stable code.
export {
  ErrorCode,
  OcikitError,
  isOcikitError,
  type OcikitErrorOptions,
  type Side,
} from './errors.js';

// The layout engine (read-only).
export { parseDigest, shortDigest, HASH_ALGORITHMS, type Digest } from './layout/digest.js';
export {
  MediaType,
  Annotation,
  isIndexMediaType,
  isManifestMediaType,
  isImageConfigMediaType,
  isDockerMediaType,
  type ContentKind,
} from './layout/media-types.js';
export type {
  Descriptor,
  ImageIndex,
  ImageManifest,
  ImageConfig,
  OciLayoutFile,
  Platform,
  Warning,
} from './layout/schema.js';
export { parsePlatform, formatPlatform, isAttestation } from './layout/platform.js';
export {
  checkKnownPlatform,
  unknownPlatformPart,
  KNOWN_OS,
  KNOWN_ARCHITECTURES,
  KNOWN_VARIANTS,
  OS_ALIASES,
  ARCHITECTURE_ALIASES,
  type KnownPlatformOptions,
} from './layout/known-platforms.js';
export { openLayout, Layout, type OpenOptions, type BlobFile } from './layout/layout.js';
export {
  refCandidates,
  resolveLayoutRef,
  checkTag,
  formatLayoutRef,
  OCI_LAYOUT_SCHEME,
  type LayoutRef,
  type ResolvedRef,
} from './layout/reference.js';
export {
  walkGraph,
  manifestsBelow,
  MAX_INDEX_DEPTH,
  type Graph,
  type GraphNode,
  type Root,
  type WalkOptions,
} from './layout/graph.js';
export {
  resolve,
  findTag,
  findDigest,
  layoutTags,
  imagePlatform,
  manifestPlatform,
  type ResolveOptions,
  type Resolved,
  type MatchedBy,
  type TagOrder,
} from './layout/resolve.js';
export {
  verifyLayout,
  type VerifyOptions,
  type VerifyReport,
  type Problem,
  type Reference,
} from './layout/verify.js';
export {
  inspectLayout,
  type LayoutSummary,
  type ImageSummary,
  type ManifestSummary,
} from './layout/inspect.js';

// Outputs: every write goes through an OutputSet (pass one to compose several commands).
export {
  OutputSet,
  interruptOutputs,
  abortOutputs,
  type InputPath,
  type OutputKind,
  type PendingOutput,
} from './output/outputs.js';

// Operations.
export { checkBase, resolveBase, type BaseCheck, type BaseCheckOptions } from './ops/base-check.js';
export {
  prepareContexts,
  type ContextRequest,
  type PrepareOptions,
  type PreparedContext,
  type PreparedContexts,
  type Strategy,
  type Mode,
} from './ops/context.js';
export type { LinkKind } from './ops/thin-copy.js';
export { buildxInvocation, type Invocation, type InvocationOptions } from './ops/buildx-args.js';
export {
  build,
  type BuildOptions,
  type BuildResult,
  type Reproducible,
  type SplitMode,
} from './ops/build.js';
export {
  checkDockerfile,
  hostPlatform,
  type DockerfileCheck,
  type DockerfileCheckOptions,
  type PullSummary,
} from './ops/dockerfile-check.js';
export {
  mergeIndex,
  parseIndexAnnotation,
  type MergeOptions,
  type MergeResult,
  type MergedManifest,
  type MergedBlob,
  type IndexAnnotation,
} from './ops/index-merge.js';
export type { LinkMode } from './ops/take-blobs.js';
export { packLayout, type PackOptions, type PackResult } from './archive/pack.js';
export { unpackArchive, type UnpackOptions, type UnpackResult } from './archive/unpack.js';
export { DEFAULT_MAX_BYTES, MAX_SKIPPED_BYTES, MAX_TRAILING_BYTES } from './archive/limits.js';

// buildx knowledge.
export {
  parseBuildxVersion,
  buildxBehaviour,
  formatBuildxVersion,
  type BuildxVersion,
  type BuildxBehaviour,
} from './buildx/compat.js';
export { detectBuildxVersion, type Detected } from './buildx/detect.js';
export { parseBuildArgs, flagsFromConfig, flagsToArgv, type BuildFlags } from './buildx/flags.js';
export type { StreamEvent, Vertex } from './buildx/stream.js';
export {
  parseAnnotation,
  type AnnotationRequest,
  type AnnotationTarget,
  type MissingAnnotation,
} from './buildx/annotations.js';
export { preflight, type Preflight } from './buildx/preflight.js';
export { type DaemonEndpoint, type DaemonTls } from './buildx/endpoint.js';
export {
  inspectBuilder,
  hasScratchExportCrash,
  supportsRewriteTimestamp,
  SCRATCH_EXPORT_CRASH,
  REWRITE_TIMESTAMP,
  type BuilderInfo,
} from './buildx/builder.js';
export {
  dockerfileSources,
  type DockerfileSources,
  type ImageReference,
  type ReferenceKind,
  type Resolution,
  type SourcesOptions,
  type StageSummary,
} from './buildx/sources.js';
export { parseImageName, contextKey, type ImageName } from './buildx/image-name.js';
export { DockerfileSyntaxError } from './buildx/dockerfile.js';
