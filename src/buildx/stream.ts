/**
 * Reading buildx's `--progress=rawjson` stream to the end. It arrives on stderr as
 * concatenated, pretty-printed JSON objects (SolveStatus: vertexes, statuses, logs, warnings);
 * after a failed solve plain text follows on the same stream (a Dockerfile excerpt and
 * `ERROR: ...`). The parser is incremental (feed chunks as they come) and never trusts an
 * exit code alone: a vertex error, an `ERROR:` line, or a step that started and never
 * finished is a failure.
 */

/** One build step as the stream last described it. */
export interface Vertex {
  digest: string;
  name: string;
  inputs: string[];
  started?: string;
  completed?: string;
  cached: boolean;
  error?: string;
  /** The last log lines of this step (stdout and stderr interleaved). */
  logs: string[];
}

/** Something the parser noticed, in stream order. */
export type StreamEvent =
  | { type: 'vertex'; vertex: Vertex }
  | { type: 'log'; vertex: string; line: string }
  | { type: 'text'; line: string }
  | { type: 'warning'; message: string };

/** How many log lines are kept per step. */
export const LOG_TAIL = 20;

interface RawVertex {
  digest?: unknown;
  name?: unknown;
  inputs?: unknown;
  started?: unknown;
  completed?: unknown;
  cached?: unknown;
  error?: unknown;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** Incremental rawjson parser. */
export class RawJsonStream {
  readonly vertexes = new Map<string, Vertex>();
  /** Plain-text lines (outside JSON objects), e.g. `ERROR: failed to solve: ...`. */
  readonly text: string[] = [];
  readonly warnings: string[] = [];
  private buf = '';
  private depth = 0;
  private inString = false;
  private escape = false;
  private objStart = -1;
  private lineStart = true;
  private scanned = 0;
  private partialLogs = new Map<string, string>();

  constructor(private readonly onEvent: (e: StreamEvent) => void = () => undefined) {}

  /** Feed the next chunk of the stream. */
  push(chunk: string): void {
    this.buf += chunk;
    let i = this.scanned;
    let consumed = 0;
    while (i < this.buf.length) {
      const c = this.buf[i] as string;
      if (this.depth === 0) {
        if (c === '{' && this.lineStart) {
          this.depth = 1;
          this.objStart = i;
          this.lineStart = false;
          i++;
          continue;
        }
        if (c === '\n') {
          const line = this.buf.slice(consumed, i).replace(/\r$/, '');
          if (line.trim() !== '') this.textLine(line);
          consumed = i + 1;
          this.lineStart = true;
        } else if (c !== ' ' && c !== '\t' && c !== '\r') {
          this.lineStart = false;
        }
        i++;
        continue;
      }
      if (this.inString) {
        if (this.escape) this.escape = false;
        else if (c === '\\') this.escape = true;
        else if (c === '"') this.inString = false;
      } else if (c === '"') {
        this.inString = true;
      } else if (c === '{' || c === '[') {
        this.depth++;
      } else if (c === '}' || c === ']') {
        this.depth--;
        if (this.depth === 0) {
          const text = this.buf.slice(this.objStart, i + 1);
          this.object(text);
          consumed = i + 1;
          this.objStart = -1;
        }
      }
      i++;
    }
    // Keep only what is not consumed: an unfinished object or line.
    const keepFrom = this.depth > 0 ? this.objStart : consumed;
    this.buf = this.buf.slice(keepFrom);
    if (this.objStart >= 0) this.objStart -= keepFrom;
    this.scanned = i - keepFrom;
  }

  /**
   * The stream ended. Returns what was left unfinished: the text of an object that never
   * closed (the stream was cut), or undefined.
   */
  end(): string | undefined {
    if (this.depth > 0) {
      const rest = this.buf.slice(this.objStart);
      this.buf = '';
      return rest;
    }
    if (this.buf.trim() !== '') this.textLine(this.buf.replace(/\r?\n?$/, ''));
    this.buf = '';
    for (const [vertex, partial] of this.partialLogs)
      if (partial !== '') this.logLine(vertex, partial);
    this.partialLogs.clear();
    return undefined;
  }

  /** Steps with an error. */
  failedVertexes(): Vertex[] {
    return [...this.vertexes.values()].filter((v) => v.error !== undefined);
  }

  /** Steps that started and never completed. */
  unfinishedVertexes(): Vertex[] {
    return [...this.vertexes.values()].filter(
      (v) => v.started !== undefined && v.completed === undefined && v.error === undefined,
    );
  }

  /** `ERROR:` lines of the plain-text part. */
  errorLines(): string[] {
    return this.text.filter((l) => /^(ERROR|error):/.test(l.trim()));
  }

  private textLine(line: string): void {
    this.text.push(line);
    this.onEvent({ type: 'text', line });
  }

  private object(text: string): void {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      for (const line of text.split('\n')) this.textLine(line);
      return;
    }
    if (value === null || typeof value !== 'object') return;
    const o = value as Record<string, unknown>;
    if (Array.isArray(o['vertexes'])) for (const v of o['vertexes'] as RawVertex[]) this.vertex(v);
    if (Array.isArray(o['logs'])) {
      for (const l of o['logs'] as Record<string, unknown>[]) {
        const vertex = str(l['vertex']);
        const data = str(l['data']);
        if (vertex === undefined || data === undefined) continue;
        const decoded =
          (this.partialLogs.get(vertex) ?? '') + Buffer.from(data, 'base64').toString('utf8');
        const lines = decoded.split('\n');
        this.partialLogs.set(vertex, lines.pop() ?? '');
        for (const line of lines) this.logLine(vertex, line.replace(/\r$/, ''));
      }
    }
    if (Array.isArray(o['warnings'])) {
      for (const w of o['warnings'] as Record<string, unknown>[]) {
        const short = str(w['short']);
        const message =
          short !== undefined ? Buffer.from(short, 'base64').toString('utf8') : JSON.stringify(w);
        this.warnings.push(message);
        this.onEvent({ type: 'warning', message });
      }
    }
  }

  private vertex(raw: RawVertex): void {
    const digest = str(raw.digest);
    if (digest === undefined) return;
    const prev = this.vertexes.get(digest);
    const v: Vertex = prev ?? { digest, name: '', inputs: [], cached: false, logs: [] };
    v.name = str(raw.name) ?? v.name;
    if (Array.isArray(raw.inputs))
      v.inputs = raw.inputs.filter((x): x is string => typeof x === 'string');
    const started = str(raw.started);
    const completed = str(raw.completed);
    if (started !== undefined) {
      v.started = started;
      if (completed === undefined) delete v.completed; // (re)started
    }
    if (completed !== undefined) v.completed = completed;
    if (raw.cached === true) v.cached = true;
    const error = str(raw.error);
    if (error !== undefined) v.error = error;
    this.vertexes.set(digest, v);
    this.onEvent({ type: 'vertex', vertex: v });
  }

  private logLine(vertex: string, line: string): void {
    const v = this.vertexes.get(vertex);
    if (v !== undefined) {
      v.logs.push(line);
      if (v.logs.length > LOG_TAIL) v.logs.splice(0, v.logs.length - LOG_TAIL);
    }
    this.onEvent({ type: 'log', vertex, line });
  }
}
