/** Printing: deterministic JSON, human sizes, errors with hints. */
import { ErrorCode, OcikitError, environmentError, errnoCode, fsError } from '../errors.js';
import { stableJson } from '../layout/json.js';
import { sideOf } from '../output/outputs.js';
import type { CliIo } from './io.js';

export { stableJson };

/** 1536 -> "1.5 KiB". */
export function humanBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(1)} ${units[u]}`;
}

/** Left-aligned text table. */
export function table(rows: string[][]): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return (
    rows
      .map((r) =>
        r
          .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
          .join('  ')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}

/**
 * Turn anything thrown into an OcikitError. A failure of the environment that no code path
 * coded (no space, no file descriptors, EIO: e.g. yargs reading its locale files at EMFILE) is
 * coded by its cause; only what is left, unexpected, becomes OCIKIT_INTERNAL.
 */
export function asOcikitError(e: unknown): OcikitError {
  if (e instanceof OcikitError) return e;
  const byCause = environmentError(e, {});
  if (byCause !== undefined) return byCause;
  const code = errnoCode(e);
  // A failure of the environment (errno) is never a bug: coded by cause, on the side its path is.
  const where = (e as { path?: unknown; dest?: unknown }).dest ?? (e as { path?: unknown }).path;
  if (code !== undefined && /^E[A-Z0-9]+$/.test(code) && typeof where === 'string')
    return fsError(e, { path: where, side: sideOf(where) });
  const message = e instanceof Error ? e.message : String(e);
  return new OcikitError(
    ErrorCode.Internal,
    code !== undefined ? `${message}` : `unexpected error: ${message}`,
    {
      hint: 'This is a bug in ocikit or an environment problem; rerun with OCIKIT_DEBUG=1 for a stack trace and report it.',
      cause: e,
    },
  );
}

/** Print an error (JSON document on stdout with --json, else text on stderr); returns the exit code. */
export function reportError(io: CliIo, e: unknown, json: boolean): number {
  const err = asOcikitError(e);
  if (json) {
    io.stdout(stableJson(err.toJSON()));
  } else {
    io.stderr(`ocikit: error ${err.code}: ${err.message}\n`);
    if (err.hint !== '') io.stderr(`  hint: ${err.hint}\n`);
  }
  if (io.env['OCIKIT_DEBUG'] === '1' && e instanceof Error && e.stack !== undefined)
    io.stderr(`${e.stack}\n`);
  return err.code === ErrorCode.Usage ? 2 : 1;
}

/** Print warnings to stderr for people. */
export function printWarnings(
  io: CliIo,
  warnings: readonly { code: string; message: string }[],
): void {
  for (const w of warnings) io.stderr(`ocikit: warning ${w.code}: ${w.message}\n`);
}

/** Tell people how each build context reaches buildx (stderr). */
export function printStrategies(
  io: CliIo,
  contexts: readonly { name: string; strategy: string; link?: string; reasons: string[] }[],
): void {
  for (const c of contexts) {
    io.stderr(
      `ocikit: ${c.name}: ${c.strategy}${c.link !== undefined ? ` (${c.link})` : ''}: ${c.reasons.join('; ')}\n`,
    );
  }
}
