/** Showing a build's progress to people: plain lines, a live terminal view, JSON lines, or nothing. */
import type { StreamEvent, Vertex } from '../buildx/stream.js';
import type { CliIo } from './io.js';

export type ProgressMode = 'auto' | 'tty' | 'plain' | 'quiet' | 'json';

function seconds(v: Vertex): string {
  if (v.started === undefined || v.completed === undefined) return '';
  const ms = Date.parse(v.completed) - Date.parse(v.started);
  return Number.isFinite(ms) ? ` ${(ms / 1000).toFixed(1)}s` : '';
}

/** A renderer for build events; call `finish` once the build is over. */
export function buildProgress(
  io: CliIo,
  mode: ProgressMode,
): { onEvent: (e: StreamEvent) => void; finish: () => void } {
  const effective = mode === 'auto' ? (io.stderrIsTTY ? 'tty' : 'plain') : mode;
  const numbers = new Map<string, number>();
  const reported = new Map<string, string>();
  const number = (digest: string): number => {
    let n = numbers.get(digest);
    if (n === undefined) {
      n = numbers.size + 1;
      numbers.set(digest, n);
    }
    return n;
  };
  if (effective === 'quiet') return { onEvent: () => undefined, finish: () => undefined };
  if (effective === 'json') {
    return {
      onEvent: (e) =>
        io.stderr(
          `${JSON.stringify(e.type === 'vertex' ? { type: 'vertex', ...e.vertex, logs: undefined } : e)}\n`,
        ),
      finish: () => undefined,
    };
  }
  const running = new Map<string, string>();
  let statusShown = false;
  const clearStatus = (): void => {
    if (effective === 'tty' && statusShown) io.stderr('\r\x1b[2K');
    statusShown = false;
  };
  const drawStatus = (): void => {
    if (effective !== 'tty' || running.size === 0) return;
    const names = [...running.values()];
    io.stderr(
      `\r\x1b[2K  running: ${names.slice(0, 3).join(', ')}${names.length > 3 ? ` (+${names.length - 3})` : ''}`.slice(
        0,
        160,
      ),
    );
    statusShown = true;
  };
  return {
    onEvent: (e) => {
      clearStatus();
      if (e.type === 'vertex') {
        const v = e.vertex;
        const n = number(v.digest);
        const state =
          v.error !== undefined
            ? 'error'
            : v.cached
              ? 'cached'
              : v.completed !== undefined
                ? 'done'
                : v.started !== undefined
                  ? 'started'
                  : 'new';
        if (state === 'new') {
          // announced when it starts
        } else if (!reported.has(v.digest)) {
          reported.set(v.digest, 'named');
          running.set(v.digest, v.name);
          if (effective === 'plain') io.stderr(`#${n} ${v.name}\n`);
        }
        const final = state === 'error' || state === 'cached' || state === 'done';
        if (final && reported.get(v.digest) !== 'final' && reported.get(v.digest) !== 'error') {
          reported.set(v.digest, state === 'error' ? 'error' : 'final');
          running.delete(v.digest);
          const what =
            state === 'error'
              ? `ERROR: ${v.error ?? ''}`
              : state === 'cached'
                ? 'CACHED'
                : `DONE${seconds(v)}`;
          io.stderr(effective === 'plain' ? `#${n} ${what}\n` : `#${n} ${v.name} ${what}\n`);
        }
      } else if (e.type === 'log') {
        io.stderr(`#${number(e.vertex)} ${e.line}\n`);
      } else if (e.type === 'warning') {
        io.stderr(`WARNING: ${e.message}\n`);
      } else {
        io.stderr(`${e.line}\n`);
      }
      drawStatus();
    },
    finish: clearStatus,
  };
}
