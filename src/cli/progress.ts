/** A progress bar on stderr, drawn only on a terminal and only for long work. */
import { humanBytes } from './output.js';
import type { CliIo } from './io.js';

/** Work smaller than this (bytes) gets no bar. */
export const PROGRESS_MIN_BYTES = 256 * 1024 * 1024;

/** Returns an update function and a finish function. */
export function progressBar(
  io: CliIo,
  label: string,
): { update: (e: { total: number; done: number }) => void; finish: () => void } {
  const start = Date.now();
  let last = 0;
  let drawn = false;
  return {
    update: ({ total, done }) => {
      if (total < PROGRESS_MIN_BYTES || !io.stderrIsTTY) return;
      const now = Date.now();
      if (now - last < 100 && done < total) return;
      last = now;
      const frac = total === 0 ? 1 : Math.min(1, done / total);
      const width = 30;
      const filled = Math.round(frac * width);
      const rate = done / Math.max(0.001, (now - start) / 1000);
      io.stderr(
        `\r${label} [${'#'.repeat(filled)}${' '.repeat(width - filled)}] ${(frac * 100).toFixed(0).padStart(3)}% ${humanBytes(done)}/${humanBytes(total)} ${humanBytes(rate)}/s`,
      );
      drawn = true;
    },
    finish: () => {
      if (drawn) io.stderr('\n');
    },
  };
}
