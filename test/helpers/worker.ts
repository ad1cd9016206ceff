/** Driving `node dist/ocikit.cjs --persistent_worker` as Bazel does: requests in, responses out. */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { BUNDLE } from './cli.js';

/** A WorkResponse as the worker wrote it. */
export interface Response {
  exitCode: number;
  output: string;
  requestId: number;
  wasCancelled?: boolean;
}

/** A running worker process; `stop()` ends it (stdin closed) and resolves with its exit code. */
export class WorkerProcess {
  readonly child: ChildProcessWithoutNullStreams;
  /** Everything written on stderr (Bazel's worker log). */
  log = '';
  /** Non-JSON lines on stdout: there must be none. */
  readonly stray: string[] = [];
  private readonly responses: Response[] = [];
  private waiters: (() => void)[] = [];
  private pending = '';

  constructor(cwd: string, env: Record<string, string> = {}, nodeOptions: string[] = []) {
    this.child = spawn(process.execPath, [...nodeOptions, BUNDLE, '--persistent_worker'], {
      cwd,
      // A clean environment: tap's NODE_OPTIONS would load its hooks into the worker.
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', ...env },
    });
    this.child.stdout.setEncoding('utf8').on('data', (d: string) => {
      this.pending += d;
      for (let nl = this.pending.indexOf('\n'); nl >= 0; nl = this.pending.indexOf('\n')) {
        const line = this.pending.slice(0, nl);
        this.pending = this.pending.slice(nl + 1);
        try {
          this.responses.push(JSON.parse(line) as Response);
        } catch {
          this.stray.push(line);
        }
      }
      for (const w of this.waiters.splice(0)) w();
    });
    this.child.stderr.setEncoding('utf8').on('data', (d: string) => (this.log += d));
    this.child.on('exit', () => {
      for (const w of this.waiters.splice(0)) w();
    });
  }

  /** Write a request: an object (compact JSON, no newline: as Bazel writes them) or raw text. */
  send(request: object | string): void {
    this.child.stdin.write(typeof request === 'string' ? request : JSON.stringify(request));
  }

  /** The next `n` responses, in the order they came. */
  async take(n: number): Promise<Response[]> {
    while (this.responses.length < n) {
      if (this.child.exitCode !== null) throw new Error(`worker exited: ${this.log}`);
      await new Promise<void>((r) => this.waiters.push(r));
    }
    return this.responses.splice(0, n);
  }

  /** Send one request and wait for its response (singleplex). */
  async request(request: object | string): Promise<Response> {
    this.send(request);
    return (await this.take(1))[0] as Response;
  }

  async stop(): Promise<number | null> {
    if (this.child.exitCode !== null) return this.child.exitCode;
    const done = new Promise<number | null>((r) => this.child.on('exit', (code) => r(code)));
    this.child.stdin.end();
    return done;
  }
}
