/**
 * SIGINT, SIGTERM and SIGHUP: the run is interrupted (no output is committed after this), the
 * command gets a moment to let its in-flight I/O settle, then every temporary output is
 * removed and the process exits 130, 143 or 129. A second signal exits at once, after the
 * same removal done synchronously. A signal that comes once the outputs are committed (the
 * run is printing its result) changes nothing: exit 130 must mean nothing was written.
 */
import {
  abortOutputs,
  abortOutputsSync,
  hasOpenOutputs,
  interruptOutputs,
} from '../output/outputs.js';
import { signalExitCode } from './main.js';

/** How long an interrupted command may take to stop writing before its outputs are removed. */
export const GRACE_MS = 3000;

const SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/**
 * Install the handlers for the run `running` (the promise of {@link run}), and exit when it
 * ends. `outputsPublished` tells whether the run has committed its outputs (its onPublished);
 * `flush` calls back once stdout and stderr are written out.
 */
export function installSignalHandlers(
  running: Promise<unknown>,
  stderr: (t: string) => void,
  outputsPublished: () => boolean,
  flush: (done: () => void) => void,
): void {
  let interrupted = false;
  const exitNow = (code: number): never => {
    abortOutputsSync();
    process.exit(code);
  };
  for (const sig of SIGNALS) {
    process.on(sig, () => {
      const code = signalExitCode(sig);
      if (interrupted) exitNow(code);
      interrupted = true;
      if (outputsPublished()) return; // committed: the run ends as it would have
      stderr(`ocikit: interrupted by ${sig}; removing what this run wrote\n`);
      if (!hasOpenOutputs()) exitNow(code);
      interruptOutputs(sig);
      const timer = setTimeout(() => exitNow(code), GRACE_MS);
      void running.then(async (result) => {
        clearTimeout(timer);
        await abortOutputs();
        // Late completions of I/O started before the signal: one more sweep, then exit. A
        // commit that was finishing when the signal came has published: the run's own code.
        setTimeout(() => exitNow(outputsPublished() ? (result as number) : code), 20);
      });
    });
  }
  // A run that ends unsignalled exits explicitly once stdout and stderr are flushed: a natural
  // exit first closes node's signal handles, and a signal in that window would kill the
  // finished process (status "killed by SIGINT", outputs in place).
  void running.then((result) => {
    if (interrupted && !outputsPublished()) return; // the handler exits, after its sweep
    flush(() => process.exit(result as number));
  });
}
