/**
 * `ocikit build --split-platforms` (PROBLEMS §2): whether to build a multi-platform image one
 * platform at a time — on builders whose BuildKit crashes exporting an empty platform, when a
 * platform may be empty — and the per-platform builds merged by `ocikit index`'s code.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import {
  missingAnnotations,
  parseAnnotation,
  type AnnotationRequest,
} from '../buildx/annotations.js';
import {
  SCRATCH_EXPORT_CRASH,
  describeBuilder,
  hasScratchExportCrash,
  type BuilderInfo,
} from '../buildx/builder.js';
import type { BuildFlags } from '../buildx/flags.js';
import { packLayout } from '../archive/pack.js';
import { ErrorCode, OcikitError } from '../errors.js';
import { openLayout } from '../layout/layout.js';
import { Annotation } from '../layout/media-types.js';
import { formatPlatform, parsePlatform } from '../layout/platform.js';
import { resolve, type ResolveOptions } from '../layout/resolve.js';
import type { Descriptor } from '../layout/schema.js';
import { verifyLayout } from '../layout/verify.js';
import { OutputSet } from '../output/outputs.js';
import { Bases } from './base-check.js';
import { builderInfo, type BuildJob, type RunResult } from './build.js';
import { classifyContext } from './buildx-args.js';
import { mergeIndex } from './index-merge.js';

/** How `--split-platforms` decided. */
export interface SplitPlan {
  mode: SplitMode;
  split: boolean;
  /** Why, in one sentence ('' when there was nothing to decide: one platform). */
  reason: string;
  platforms: string[];
}

/** `--split-platforms`: auto (split on affected or unknown builders when a platform may be empty), always, never. */
export type SplitMode = 'auto' | 'always' | 'never';

/**
 * Decide whether to build platform by platform: only for multi-platform builds; `always`
 * splits, `never` does not; `auto` splits when the builder may have the OCI exporter crash on
 * an empty platform ({@link SCRATCH_EXPORT_CRASH}; unknown counts as affected) and some
 * platform's result may be empty: its base image (an oci-layout context) has zero layers for
 * that platform, or the Dockerfile has a `FROM scratch` stage.
 */
export async function planSplit(job: BuildJob): Promise<SplitPlan> {
  const { flags, options } = job;
  const mode = options.splitPlatforms ?? 'auto';
  const platforms = [...new Set(flags.platform ?? [])];
  const plan: SplitPlan = { mode, split: false, reason: '', platforms };
  if (platforms.length < 2) return plan;
  if (mode === 'never') return { ...plan, reason: 'asked for' };
  if (mode === 'always') return { ...plan, split: true, reason: 'asked for' };
  const empty = await emptyPlatforms(job, platforms);
  if (empty.length === 0) {
    return { ...plan, reason: 'no platform starts from an empty (zero-layer) base' };
  }
  // One `docker buildx inspect` per build (the rewrite-timestamp decision asks too).
  const info = (await builderInfo(job)) ?? ({ name: '', driver: '' } as BuilderInfo);
  const affected = hasScratchExportCrash(info);
  const why = `${empty.join('; ')}, and ${describeBuilder(info)}`;
  if (affected === false) {
    return { ...plan, reason: `${why} has the fix (${SCRATCH_EXPORT_CRASH.commit})` };
  }
  return {
    ...plan,
    split: true,
    reason: `${why} ${affected === undefined ? 'may have' : 'has'} the crash: ${SCRATCH_EXPORT_CRASH.summary}`,
  };
}

/** "base has zero layers for linux/arm64" for each oci-layout context; "FROM scratch" stages. */
async function emptyPlatforms(job: BuildJob, platforms: readonly string[]): Promise<string[]> {
  const cwd = job.options.cwd ?? process.cwd();
  const found: string[] = [];
  for (const arg of job.flags.buildContext ?? []) {
    const c = await classifyContext(arg, cwd);
    if (c.layout === undefined) continue;
    let layout;
    try {
      layout = await (job.options.bases ?? new Bases()).open(path.resolve(cwd, c.layout.ref.path), {
        strict: job.options.strict ?? false,
        name: c.layout.ref.path,
      });
    } catch {
      continue; // an archive, or broken: the build reports it
    }
    for (const platform of platforms) {
      const selection: ResolveOptions = { platform };
      if (c.layout.ref.tag !== undefined) selection.tag = c.layout.ref.tag;
      if (c.layout.ref.digest !== undefined) selection.digest = c.layout.ref.digest;
      const r = await resolve(layout, selection).catch(() => undefined);
      if (r?.layers === 0) found.push(`context ${c.name} has zero layers for ${platform}`);
    }
  }
  // A stage FROM scratch the target needs (the Dockerfile as the check read it; when it could
  // not be read, any line that looks like one).
  const sources = job.checked.sources;
  const scratch =
    sources !== undefined
      ? sources.references.some(
          (r) => r.kind === 'from' && r.resolution === 'scratch' && r.reachable,
        )
      : /^\s*FROM\s+(?:--platform=\S+\s+)?scratch\b/im.test(
          await fsp.readFile(path.resolve(cwd, job.checked.dockerfile), 'utf8').catch(() => ''),
        );
  if (scratch) found.push('the Dockerfile has a FROM scratch stage');
  return found;
}

/** Annotations for the per-platform builds (index-level ones are applied by the merge). */
function splitAnnotations(requests: readonly AnnotationRequest[]): {
  perPlatform: string[];
  index: Record<string, string>;
  indexDescriptor: Record<string, string>;
} {
  const perPlatform: string[] = [];
  const index: Record<string, string> = {};
  const indexDescriptor: Record<string, string> = {};
  for (const r of requests) {
    if (r.targets.includes('index')) index[r.key] = r.value;
    if (r.targets.includes('index-descriptor')) indexDescriptor[r.key] = r.value;
    const rest = r.targets.filter((t) => t !== 'index' && t !== 'index-descriptor');
    if (rest.length === 0) continue;
    const platform = r.platform !== undefined ? `[${formatPlatform(r.platform)}]` : '';
    perPlatform.push(`${rest.join(',')}${platform}:${r.key}=${r.value}`);
  }
  return { perPlatform, index, indexDescriptor };
}

/**
 * Build each platform on its own (same contexts, args, labels, attestations), then merge the
 * results with `ocikit index`'s code into one index: index annotations applied, per-descriptor
 * annotations and attestations carried. The result is checked like any build.
 */
export async function buildSplit(
  job: BuildJob,
  plan: SplitPlan,
  buildOnce: (job: BuildJob) => Promise<RunResult>,
): Promise<RunResult> {
  const { flags, options, tmpRoot } = job;
  const requests = (flags.annotation ?? []).map(parseAnnotation);
  const ann = splitAnnotations(requests);
  const results: { platform: string; dir: string; result: RunResult }[] = [];
  for (const [i, platform] of plan.platforms.entries()) {
    job.set.throwIfInterrupted();
    const dir = path.join(tmpRoot, `platform-${i}`);
    await fsp.mkdir(dir);
    const contextSet = new OutputSet({ cwd: options.cwd ?? process.cwd() });
    try {
      const one: BuildFlags = { ...flags, platform: [platform], annotation: ann.perPlatform };
      if (ann.perPlatform.length === 0) delete one.annotation;
      const result = await buildOnce({
        ...job,
        flags: one,
        contextSet,
        dest: dir,
        format: 'layout',
        suffix: `-${i}`,
        options: { ...options, repairAnnotations: false },
      });
      results.push({ platform, dir, result });
    } finally {
      await contextSet.close();
    }
  }
  // One index over the per-platform results; tags as buildx wrote them for the first.
  const first = await openLayout(results[0]?.dir as string, { name: 'build output' });
  const tags = [
    ...new Set(
      first.index.manifests.flatMap((d) => {
        const t = d.annotations?.[Annotation.RefName];
        return t !== undefined ? [t] : [];
      }),
    ),
  ];
  // A layout output is merged straight into the pending --out (empty, on the output's file
  // system: no rename across devices); a tarball's layout is merged in scratch and packed.
  const mergedDir = job.format === 'layout' ? job.dest : path.join(tmpRoot, 'merged');
  const merged = await mergeIndex(
    results.map((r) => r.dir),
    mergedDir,
    { annotations: ann.index, descriptorAnnotations: ann.indexDescriptor, tags, oci: true },
  );
  // The check every build gets: the output verifies, holds every platform, carries the annotations.
  const layout = await openLayout(mergedDir, { name: 'merged build output' });
  const report = await verifyLayout(layout);
  if (!report.ok) {
    throw new OcikitError(
      ErrorCode.OutputInvalid,
      `the merged output layout is incomplete: ${report.problems.map((p) => p.message).join('; ')}`,
      { hint: 'Rerun the build.', details: { problems: report.problems } },
    );
  }
  const platformsIn = new Set(
    merged.manifests.flatMap((m) =>
      m.platform !== undefined && !m.attestation ? [formatPlatform(parsePlatform(m.platform))] : [],
    ),
  );
  const lost = plan.platforms.filter((p) => !platformsIn.has(formatPlatform(parsePlatform(p))));
  if (lost.length > 0) {
    throw new OcikitError(
      ErrorCode.OutputInvalid,
      `the merged output lacks platform(s) ${lost.join(', ')}`,
      { hint: 'Rerun the build.' },
    );
  }
  const missing = await missingAnnotations(layout, merged.descriptor.digest, requests);
  if (missing.length > 0) {
    throw new OcikitError(
      ErrorCode.AnnotationsMissing,
      `the merged output lacks ${missing.length} requested annotation(s): ${missing.map((m) => `${m.target}:${m.key}=${m.value} on ${m.where}`).join('; ')}`,
      { hint: 'The builder dropped them.', details: { missing } },
    );
  }
  if (job.format === 'tar') await packLayout(layout, job.dest);
  const descriptor = layout.index.manifests.find(
    (d) => d.digest === merged.descriptor.digest,
  ) as Descriptor;
  return {
    out: options.out,
    format: job.format,
    digest: merged.descriptor.digest,
    buildxDigest: merged.descriptor.digest,
    descriptor,
    steps: results.reduce(
      (n, r) => ({
        total: n.total + r.result.steps.total,
        cached: n.cached + r.result.steps.cached,
      }),
      { total: 0, cached: 0 },
    ),
    annotations: { requested: requests.length, repaired: [] },
    contexts: results[0]?.result.contexts ?? [],
    argv: results[0]?.result.argv ?? [],
    warnings: [...results.flatMap((r) => r.result.warnings), ...merged.warnings],
    split: {
      mode: plan.mode,
      split: true,
      reason: plan.reason,
      platforms: results.map((r) => ({ platform: r.platform, digest: r.result.digest })),
    },
  };
}
