// What the rules' node_script_tests share: the example layout's image digests, reading JSON, and
// collecting failures to report them all at the end (finish).
import fs from 'node:fs';

/** The linux/amd64 and linux/arm64 manifests of examples/hello. */
export const AMD64 = 'sha256:2d74eb680343f10d2ff25ff3742261919f1a1ccf9d62cc97a59ef7ff7ec58c5a';
export const ARM64 = 'sha256:eb4874989f45db2087a7338159e45235bbbd0bca92287f3968d0ad6043101696';

export const readJson = (file) => JSON.parse(fs.readFileSync(file, 'utf8'));

const failures = [];

/** Record a failure unless `got` and `want` are the same JSON. */
export function expect(what, got, want) {
  if (JSON.stringify(got) !== JSON.stringify(want))
    failures.push(`${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
}

/** Exit 1 listing every failure, or print `ok: message`. */
export function finish(message) {
  if (failures.length > 0) {
    console.error(failures.join('\n'));
    process.exit(1);
  }
  console.log(`ok: ${message}`);
}
