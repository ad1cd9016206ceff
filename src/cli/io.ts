/** The streams and environment a CLI run talks to; tests and the persistent worker pass their own. */
export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** True when stderr is a terminal (progress bars are drawn only then). */
  stderrIsTTY: boolean;
  cwd: string;
  env: Record<string, string | undefined>;
}

/** The process's own streams, and a way to wait until what was written is out. */
export function processIo(): CliIo & { flush: (done: () => void) => void } {
  const out = fdWriter(1, () => process.stdout);
  const err = fdWriter(2, () => process.stderr);
  return {
    stdout: out.write,
    stderr: err.write,
    // Found out when first asked (a progress bar): node:tty loads Node's net and stream modules.
    get stderrIsTTY() {
      return process.getBuiltinModule('node:tty').isatty(2);
    },
    cwd: process.cwd(),
    env: process.env,
    flush: (done) => out.flush(() => err.flush(done)),
  };
}

/**
 * Writes to file descriptor `fd` with write(2), not through process.stdout/stderr: creating
 * those streams loads Node's stream modules, ~2 ms of a cold start that prints one line. When a
 * write cannot complete (EAGAIN on a non-blocking pipe, or any other error) the rest, and
 * everything after it, goes to the stream, which waits, retries and reports as it always did.
 */
function fdWriter(
  fd: number,
  stream: () => NodeJS.WriteStream,
): { write: (text: string) => void; flush: (done: () => void) => void } {
  let streaming = false;
  const { writeSync } = process.getBuiltinModule('node:fs');
  return {
    write: (text) => {
      if (streaming) {
        stream().write(text);
        return;
      }
      const bytes = Buffer.from(text);
      let done = 0;
      try {
        while (done < bytes.length) done += writeSync(fd, bytes, done);
      } catch {
        streaming = true;
        stream().write(bytes.subarray(done));
      }
    },
    flush: (done) => {
      if (streaming) stream().write('', () => done());
      else done();
    },
  };
}
