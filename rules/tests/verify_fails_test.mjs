// oci_layout_verify_test on a broken layout must fail, naming the problem.
// Usage: verify_fails_test.mjs VERIFY_TEST_EXECUTABLE EXPECTED_CODE
import { spawnSync } from 'node:child_process';

const [exe, code] = process.argv.slice(2);
const r = spawnSync(exe, [], { encoding: 'utf8' });
const out = `${r.stdout}${r.stderr}`;
if (r.status !== 1 || !out.includes(code)) {
  console.error(`expected exit 1 naming ${code}; got exit ${r.status}:\n${out}`);
  process.exit(1);
}
console.log(`ok: exit 1, ${code} reported`);
