/**
 * Deterministic JSON: object keys sorted at every level, `undefined` members dropped, a
 * trailing newline. One implementation for what ocikit writes into layouts (compact, as
 * tools expect blobs) and what it prints (indented, for people and diffs).
 */

/** `value` with object keys sorted at every level and undefined members dropped. */
export function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[k];
      if (v !== undefined) out[k] = sortKeys(v);
    }
    return out;
  }
  return value;
}

/** Compact, sorted keys, trailing newline: index.json, manifests and indexes ocikit writes. */
export function canonicalJson(value: unknown): string {
  return `${JSON.stringify(sortKeys(value))}\n`;
}

/** Indented by two, sorted keys, trailing newline: `--json` documents and files. */
export function stableJson(value: unknown): string {
  return `${JSON.stringify(sortKeys(value), null, 2)}\n`;
}
