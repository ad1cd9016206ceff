/**
 * `ocikit --persistent_worker`: Bazel's JSON worker protocol, singleplex and multiplex.
 *
 * Bazel writes WorkRequests to stdin as compact JSON objects (back to back, or one per line):
 * `arguments` (the lines of the action's argument files), `requestId` (0 for singleplex),
 * `inputs`, `sandboxDir` (the request's directory, relative to the worker's; with multiplex
 * sandboxing), `verbosity` (10 with --worker_verbose) and `cancel`. For each request the
 * worker writes one WorkResponse line to stdout: `exitCode`, `output` (what the command wrote
 * on stdout and stderr, in order), `requestId`, and `wasCancelled` for a request it
 * cancelled. Requests run concurrently, each in its own directory with its own streams,
 * environment copy and output set; nothing of one is left for the next. A request that cannot
 * be read is answered with exit code 1 and the reason; the worker keeps serving. When stdin
 * ends, running requests get {@link DRAIN_MS} to finish, then they are cancelled.
 */
import path from 'node:path';
import { ErrorCode } from '../errors.js';

/** One WorkRequest, as read. */
export interface WorkRequest {
  arguments: string[];
  requestId: number;
  cancel: boolean;
  sandboxDir: string;
  verbosity: number;
}

/** One WorkResponse. */
export interface WorkResponse {
  exitCode: number;
  output: string;
  requestId: number;
  wasCancelled?: boolean;
}

/** What a request runs with. */
export interface RequestContext {
  /** The request's working directory: the worker's, or its sandboxDir under it. */
  cwd: string;
  /** Aborted when Bazel cancels the request. */
  signal: AbortSignal;
  /** Where the command's stdout and stderr go (both into the response's output). */
  write: (text: string) => void;
}

export interface WorkerOptions {
  /** Chunks of stdin. */
  input: AsyncIterable<string | Buffer>;
  /** Writes one response line (the protocol's stdout). */
  respond: (line: string) => void;
  /** The worker's own log (stderr: Bazel keeps it in the worker's log file). */
  log: (text: string) => void;
  /** The worker's working directory. */
  cwd: string;
  /** Runs one request's arguments; returns its exit code. May throw (a bug): exit code 1. */
  run: (argv: string[], ctx: RequestContext) => Promise<number>;
  /** Default {@link DRAIN_MS}. */
  drainMs?: number;
}

/** How long requests may still run once stdin has ended, before they are cancelled. */
export const DRAIN_MS = 3000;

/** Requests larger than this are refused (Bazel's are a few KiB: argument lines only). */
export const MAX_REQUEST_BYTES = 16 * 1024 * 1024;

/** Serve requests until stdin ends and every request has been answered. */
export async function serveWorker(options: WorkerOptions): Promise<void> {
  /** Running requests by id; `superseded`: cancelled, and its id reused (it gets no answer). */
  const inFlight = new Map<
    number,
    { controller: AbortController; done: Promise<void>; superseded: boolean }
  >();
  /** Cancelled requests still stopping whose id came again: drained with the others. */
  const superseded = new Set<Promise<void>>();
  // Singleplex requests (requestId 0) run one after the other, in the order they came.
  let singleplex: Promise<void> = Promise.resolve();
  let served = 0;
  let draining = false;
  const answer = (r: WorkResponse): void => {
    options.respond(`${JSON.stringify(r)}\n`);
  };
  const refuse = (requestId: number, why: string): void => {
    options.log(`ocikit worker: ${why}\n`);
    // For a singleplex request (0), after the ones before it: Bazel reads responses in order.
    if (requestId === 0) singleplex = singleplex.then(() => tell(requestId, why));
    else tell(requestId, why);
  };
  const tell = (requestId: number, why: string): void => {
    answer({
      exitCode: 1,
      output: `ocikit: error ${ErrorCode.WorkerRequestInvalid}: ${why}\n  hint: This is a malformed worker request; Bazel sends well-formed ones (was the worker started by hand?).\n`,
      requestId,
    });
  };
  const handle = (text: string): void => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (e) {
      refuse(guessRequestId(text), `request is not JSON (${(e as Error).message}): ${clip(text)}`);
      return;
    }
    const request = readRequest(parsed);
    if (typeof request === 'string') {
      refuse(requestIdOf(parsed), `${request}: ${clip(text)}`);
      return;
    }
    if (request.cancel) {
      // A cancel for a request already answered (or never seen) is ignored, as Bazel asks.
      inFlight.get(request.requestId)?.controller.abort();
      return;
    }
    if (request.requestId === 0) {
      singleplex = singleplex.then(() => start(request).done);
      return;
    }
    const running = inFlight.get(request.requestId);
    if (running === undefined) {
      start(request);
      return;
    }
    // The id is taken, so at most one more answer may carry it; the running request stops
    // without one (it would be read as the new request's).
    running.superseded = true;
    superseded.add(running.done);
    void running.done.then(() => superseded.delete(running.done));
    inFlight.delete(request.requestId);
    if (running.controller.signal.aborted) {
      // Bazel stops waiting for a request it cancelled (an interrupted build) and numbers the
      // next build's requests from 1 again: the new request takes the id.
      start(request);
      return;
    }
    // Bazel never reuses the id of a request it still waits for: a client error. Both requests
    // stop, and the one answer says why.
    running.controller.abort();
    refuse(
      request.requestId,
      `request ${request.requestId} came again while it was running: both are stopped`,
    );
  };
  const start = (request: WorkRequest): { done: Promise<void> } => {
    const controller = new AbortController();
    if (draining) controller.abort();
    const n = ++served;
    const entry = { controller, done: Promise.resolve(), superseded: false };
    entry.done = execute(request, controller.signal, n).then((r) => {
      if (entry.superseded) return;
      inFlight.delete(request.requestId);
      answer(r);
    });
    inFlight.set(request.requestId, entry);
    return { done: entry.done };
  };
  const execute = async (
    request: WorkRequest,
    signal: AbortSignal,
    n: number,
  ): Promise<WorkResponse> => {
    let output = '';
    let exitCode: number;
    try {
      exitCode = await options.run(request.arguments, {
        cwd: path.resolve(options.cwd, request.sandboxDir),
        signal,
        write: (t) => void (output += t),
      });
    } catch (e) {
      exitCode = 1;
      output += `ocikit: error ${ErrorCode.Internal}: the worker failed on this request: ${(e as Error)?.message ?? String(e)}\n  hint: This is a bug in ocikit; the worker keeps serving. Report it with the arguments.\n`;
      options.log(
        `ocikit worker: request ${request.requestId} threw: ${(e as Error)?.stack ?? e}\n`,
      );
    }
    if (request.verbosity >= 10) {
      const rss = (process.memoryUsage.rss() / 2 ** 20).toFixed(0);
      output += `ocikit worker: pid ${process.pid}, request ${n} of this process, ${rss} MiB resident\n`;
    }
    const r: WorkResponse = { exitCode, output, requestId: request.requestId };
    if (signal.aborted) r.wasCancelled = true;
    return r;
  };

  const splitter = new RequestSplitter(handle, (why, text) => refuse(guessRequestId(text), why));
  for await (const chunk of options.input) splitter.push(chunk.toString());
  splitter.end();
  // No more requests can come. Those running get DRAIN_MS to finish and be answered; then they
  // are cancelled (Bazel has gone away, or a script piped its requests and closed the pipe).
  const timer = setTimeout(() => {
    draining = true;
    for (const r of inFlight.values()) r.controller.abort();
  }, options.drainMs ?? DRAIN_MS);
  await singleplex;
  await Promise.all([...inFlight.values()].map((r) => r.done));
  await Promise.all(superseded);
  clearTimeout(timer);
}

function clip(text: string): string {
  const t = text.trim();
  return t.length > 200 ? `${JSON.stringify(t.slice(0, 200))}...` : JSON.stringify(t);
}

/** The requestId of a request that is otherwise unreadable (0 when there is none). */
function requestIdOf(v: unknown): number {
  const id = (v as { requestId?: unknown } | null)?.requestId;
  return Number.isSafeInteger(id) && (id as number) >= 0 ? (id as number) : 0;
}

/** A WorkRequest from parsed JSON (proto3 JSON: absent fields are defaults), or what is wrong. */
export function readRequest(v: unknown): WorkRequest | string {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return 'request is not an object';
  const o = v as Record<string, unknown>;
  const args = o['arguments'] ?? [];
  if (!Array.isArray(args) || !args.every((a) => typeof a === 'string'))
    return '"arguments" is not a list of strings';
  const requestId = o['requestId'] ?? 0;
  if (!Number.isSafeInteger(requestId) || (requestId as number) < 0)
    return '"requestId" is not a whole number';
  const cancel = o['cancel'] ?? false;
  if (typeof cancel !== 'boolean') return '"cancel" is not true or false';
  const sandboxDir = o['sandboxDir'] ?? '';
  if (typeof sandboxDir !== 'string') return '"sandboxDir" is not a string';
  if (path.isAbsolute(sandboxDir) || sandboxDir.split('/').includes('..'))
    return '"sandboxDir" is not a relative path inside the worker\'s directory';
  const verbosity = o['verbosity'] ?? 0;
  if (!Number.isSafeInteger(verbosity)) return '"verbosity" is not a whole number';
  return {
    arguments: args as string[],
    requestId: requestId as number,
    cancel,
    sandboxDir,
    verbosity: verbosity as number,
  };
}

/**
 * The `requestId` of a request that cannot be parsed (not JSON, too long), when its text says
 * it: a multiplex Bazel waits for that id, not for 0. Bazel writes the field after the
 * arguments and inputs, so the text's last occurrence is taken.
 */
export function guessRequestId(text: string): number {
  const all = [...text.matchAll(/"requestId"\s*:\s*(\d{1,15})\s*[,}]/g)];
  const id = Number(all.at(-1)?.[1] ?? 0);
  return Number.isSafeInteger(id) ? id : 0;
}

/** What is kept of a request over the limit: its start and end (where `requestId` is). */
const KEPT_OF_OVERSIZED = 4096;

/**
 * Cuts stdin into requests: a compact JSON object ends where its braces balance (Bazel writes
 * them back to back) or at the end of its line (a line that ends inside an object is a bad
 * request, so the next line starts afresh). Text outside objects is a bad request up to the
 * end of its line or the next `{`. A request over {@link MAX_REQUEST_BYTES} bytes (UTF-8) is
 * still followed to its end (only its start and end are kept, for its `requestId`), so the
 * requests after it are read as they were written.
 */
export class RequestSplitter {
  private buffer = '';
  private bytes = 0;
  private tail = '';
  private depth = 0;
  private inString = false;
  private escaped = false;
  /** Scanning text that is not an object, up to the end of its line or the next `{`. */
  private junk = false;

  constructor(
    private readonly onRequest: (text: string) => void,
    private readonly onGarbage: (why: string, text: string) => void,
  ) {}

  /**
   * Take a chunk. Runs of characters that change nothing (inside a string, between brackets)
   * are taken whole: a 16 MiB request is scanned at `indexOf` speed, not a character at a time.
   */
  push(chunk: string): void {
    let i = 0;
    while (i < chunk.length) i = this.step(chunk, i);
  }

  end(): void {
    if (this.buffer.trim() !== '')
      this.onGarbage(`stdin ended inside a request: ${clip(this.buffer)}`, this.text());
    this.reset();
  }

  private get oversized(): boolean {
    return this.bytes > MAX_REQUEST_BYTES;
  }

  private text(): string {
    return this.oversized ? `${this.buffer}${this.tail}` : this.buffer;
  }

  private reset(): void {
    this.buffer = '';
    this.bytes = 0;
    this.tail = '';
    this.depth = 0;
    this.inString = false;
    this.escaped = false;
    this.junk = false;
  }

  private append(text: string): void {
    this.bytes += Buffer.byteLength(text);
    if (!this.oversized) {
      this.buffer += text;
      return;
    }
    if (this.buffer.length > KEPT_OF_OVERSIZED)
      this.buffer = this.buffer.slice(0, KEPT_OF_OVERSIZED);
    this.tail += text;
    if (this.tail.length > 2 * KEPT_OF_OVERSIZED) this.tail = this.tail.slice(-KEPT_OF_OVERSIZED);
  }

  /**
   * Append `chunk` from `from` up to the first character `stop` matches (not included) and
   * return that character's index, or append the rest and return the chunk's length.
   */
  private runTo(chunk: string, from: number, stop: RegExp): number {
    stop.lastIndex = from;
    const at = stop.exec(chunk)?.index ?? chunk.length;
    if (at > from) this.append(chunk.slice(from, at));
    return at;
  }

  /** Take one character's worth of state change at `i` (after a run); the next index. */
  private step(chunk: string, i: number): number {
    if (this.junk) {
      i = this.runTo(chunk, i, JUNK_END);
      if (i === chunk.length) return i;
      this.onGarbage(`not a request: ${clip(this.buffer)}`, this.buffer);
      this.reset();
      return chunk[i] === '\n' ? i + 1 : i; // a `{` starts the next request
    }
    if (this.depth === 0) {
      NOT_SPACE.lastIndex = i;
      const at = NOT_SPACE.exec(chunk)?.index;
      if (at === undefined) return chunk.length;
      if (chunk[at] === '{') {
        this.depth = 1;
        this.append('{');
        return at + 1;
      }
      this.junk = true;
      return at;
    }
    if (this.escaped) {
      if (chunk[i] === '\n') return this.cut(i);
      this.escaped = false;
      this.append(chunk[i] as string);
      return i + 1;
    }
    i = this.runTo(chunk, i, this.inString ? STRING_STOP : OBJECT_STOP);
    if (i === chunk.length) return i;
    const c = chunk[i] as string;
    if (c === '\n') return this.cut(i);
    this.append(c);
    if (this.inString) {
      if (c === '\\') this.escaped = true;
      else this.inString = false; // '"'
    } else if (c === '"') this.inString = true;
    else if (c === '{' || c === '[') this.depth++;
    else {
      this.depth--; // '}' or ']'
      if (this.depth === 0) {
        const text = this.text();
        const oversized = this.oversized;
        this.reset();
        if (oversized) this.onGarbage(`request longer than ${MAX_REQUEST_BYTES} bytes`, text);
        else this.onRequest(text);
      }
    }
    return i + 1;
  }

  /** A line ended inside an object: a bad request; the next line starts afresh. */
  private cut(i: number): number {
    this.onGarbage(`request ends inside its JSON object: ${clip(this.buffer)}`, this.text());
    this.reset();
    return i + 1;
  }
}

/** Where stray text ends: the end of its line, or a `{` that may start a request. */
const JUNK_END = /[\n{]/g;
/** The first character of a request or of stray text (JSON.trim's whitespace skipped). */
const NOT_SPACE = /\S/g;
/** The characters that change the splitter's state inside a string. */
const STRING_STOP = /["\\\n]/g;
/** The characters that change the splitter's state inside an object, outside strings. */
const OBJECT_STOP = /["{}[\]\n]/g;
