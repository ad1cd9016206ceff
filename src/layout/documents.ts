/**
 * The process's memory of metadata documents (indexes, manifests, configs), shared by every
 * {@link Layout} it opens. Documents are content-addressed: bytes that hash to a digest always
 * parse to the same JSON and validate to the same result. So a persistent worker, which serves
 * many requests on the same bases, parses and validates a 2,000-layer manifest once, not once
 * per request; a single command that opens several layouts with the same blobs (index) gains too.
 *
 * What is kept is only ever found again through a digest its bytes were just hashed to: every
 * read still opens the file, checks its size and hashes it (a changed file is a new digest or a
 * mismatch, never a stale hit). Kept values are frozen: they are shared, and a caller that
 * tried to change one would otherwise change it for every later reader. The memory is bounded
 * (least recently used documents go first) and a document's deviations from the spec are kept
 * with its validated form and replayed into each reader's {@link Lenience} (warnings, --strict).
 */
import { Lenience, type Warning } from './schema.js';

/** Bytes of documents kept at most (their parsed forms take a few times this). */
export const KEPT_DOCUMENT_BYTES = 8 * 1024 * 1024;

/** Freeze `value` and everything it holds. */
function deepFreeze<T>(value: T): T {
  const stack: unknown[] = [value];
  for (let v = stack.pop(); v !== undefined; v = stack.pop()) {
    if (v === null || typeof v !== 'object' || Object.isFrozen(v)) continue;
    Object.freeze(v);
    for (const child of Object.values(v)) {
      if (child !== null && typeof child === 'object') stack.push(child);
    }
  }
  return value;
}

interface Validated {
  result: unknown;
  deviations: readonly Warning[];
}

export class Documents {
  /** digest → the parsed JSON, most recently used last. */
  private readonly json = new Map<string, { value: unknown; bytes: number }>();
  private bytes = 0;
  /** parsed JSON → kind → validated form. */
  private readonly validated = new WeakMap<object, Map<string, Validated>>();

  constructor(private readonly maxBytes: number) {}

  /** The parsed JSON of the bytes that hash to `digest`, when kept. */
  jsonOf(digest: string): unknown {
    const entry = this.json.get(digest);
    if (entry === undefined) return undefined;
    this.json.delete(digest);
    this.json.set(digest, entry);
    return entry.value;
  }

  /** Keep `value`, parsed from `bytes` bytes that hash to `digest`; returns it frozen. */
  keepJson(digest: string, value: unknown, bytes: number): unknown {
    if (value === null || typeof value !== 'object' || bytes > this.maxBytes / 4) return value;
    deepFreeze(value);
    this.json.set(digest, { value, bytes });
    this.bytes += bytes;
    for (const [d, e] of this.json) {
      if (this.bytes <= this.maxBytes) break;
      this.json.delete(d);
      this.bytes -= e.bytes;
    }
    return value;
  }

  /**
   * `parse(json)` as `kind`, once per kept JSON value: the result is frozen and kept with the
   * deviations the parse found, which go to `lenience` now and on every later call (so
   * --strict refuses them, and every reader's warnings list them). A document that fails to
   * validate is parsed again with `lenience` itself, so that its error is exactly the one a
   * direct parse throws (a --strict deviation before a schema error, for instance).
   */
  validate<T>(json: object, kind: string, lenience: Lenience, parse: (l: Lenience) => T): T {
    let byKind = this.validated.get(json);
    let kept = byKind?.get(kind);
    if (kept === undefined) {
      const recorder = new Lenience(false);
      let result: T;
      try {
        result = parse(recorder);
      } catch {
        return parse(lenience);
      }
      kept = { result: deepFreeze(result), deviations: recorder.warnings };
      if (byKind === undefined) {
        byKind = new Map();
        this.validated.set(json, byKind);
      }
      byKind.set(kind, kept);
    }
    for (const w of kept.deviations) lenience.deviation(w.code, w.message);
    return kept.result as T;
  }
}

/** The one memory of this process. */
export const documents = new Documents(KEPT_DOCUMENT_BYTES);
