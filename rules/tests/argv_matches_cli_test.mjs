// The argv the rules' helper writes (<name>.argv.json) must be what `ocikit buildx-args` makes of
// the same config: the helper keeps ocikit's flag order without running ocikit in the action.
// Usage: argv_matches_cli_test.mjs CLI RUN_CONFIG ARGV_JSON BINDIR
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';

const [cli, runConfig, argvFile, bindir] = process.argv.slice(2);
const r = spawnSync(
  process.execPath,
  [
    cli,
    'buildx-args',
    '--config',
    runConfig,
    '--buildx-version',
    '0.19.0',
    '--mode',
    'in-place',
    '--format',
    'json',
  ],
  {
    encoding: 'utf8',
  },
);
if (r.status !== 0) {
  console.error(`ocikit buildx-args failed (${r.status}):\n${r.stderr}${r.stdout}`);
  process.exit(1);
}
const strip = (argv, prefix) => argv.map((a) => a.split(prefix).join(''));
const fromCli = strip(JSON.parse(r.stdout), `${process.cwd()}/`);
const fromRules = strip(JSON.parse(fs.readFileSync(argvFile, 'utf8')), `${bindir}/`);
if (JSON.stringify(fromCli) !== JSON.stringify(fromRules)) {
  console.error(
    `argv differs\n  ocikit buildx-args: ${JSON.stringify(fromCli)}\n  rules (${argvFile}): ${JSON.stringify(fromRules)}`,
  );
  process.exit(1);
}
console.log(`ok: ${fromRules.length} arguments agree`);
