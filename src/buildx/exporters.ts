/**
 * What buildx's `--output` exporters accept that ocikit sets: `rewrite-timestamp=true`, the image
 * exporters' option (BuildKit >= 0.13, moby/buildkit 2f8292cf7) that rewrites file timestamps
 * in the layers to SOURCE_DATE_EPOCH. It belongs to the exporters that write images: `image`,
 * `registry` (an image pushed), `oci` and `docker`; `local` and `tar` apply the epoch by
 * themselves, `cacheonly` writes nothing.
 */
import type { BuildFlags } from './flags.js';

const IMAGE_EXPORTERS = new Set(['image', 'registry', 'oci', 'docker']);
const OPTION = 'rewrite-timestamp';

/** The `type=` of an `--output` value (`type=oci,dest=x`), or undefined for the short forms (`./dir`, `-`). */
function exporterType(value: string): string | undefined {
  for (const field of value.split(',')) {
    const [k, v] = field.split('=', 2);
    if (k?.trim().toLowerCase() === 'type') return v?.trim().toLowerCase();
  }
  return undefined;
}

/** Whether an `--output` value already says rewrite-timestamp (either way). */
function saysRewrite(value: string): boolean {
  return value.split(',').some((f) => f.split('=', 1)[0]?.trim().toLowerCase() === OPTION);
}

/**
 * The flags with `rewrite-timestamp=true` on every image output: each `--output` of type
 * image, registry, oci or docker that does not set the option itself, and `--load` / `--push`
 * written as the outputs they stand for (`type=docker` / `type=registry`, as buildx defines them).
 * Other outputs are left alone. A BuildKit before v0.13 ignores the option.
 */
export function withRewriteTimestamp(flags: BuildFlags): BuildFlags {
  const output = (flags.output ?? []).map((o) =>
    IMAGE_EXPORTERS.has(exporterType(o) ?? '') && !saysRewrite(o) ? `${o},${OPTION}=true` : o,
  );
  const out: BuildFlags = { ...flags };
  if (flags.load === true) {
    output.push(`type=docker,${OPTION}=true`);
    delete out.load;
  }
  if (flags.push === true) {
    output.push(`type=registry,${OPTION}=true`);
    delete out.push;
  }
  if (output.length > 0) out.output = output;
  return out;
}
