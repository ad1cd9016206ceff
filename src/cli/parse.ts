/**
 * The fast parser: reads a well-formed command line against spec.ts without loading yargs.
 * It accepts only spellings whose meaning is plain — `--name value`, `--name=value`, `--flag`,
 * `--no-flag`, positionals — and gives the same arguments yargs would (test/cli-parse.ts checks
 * it against yargs). Anything else (help, version, short flags, `--`, unknown or repeated
 * options, a missing or invalid value, a failed check) returns undefined: yargs then parses
 * the command line, and reports the usage error in its words.
 */
import { COMMANDS, GLOBAL_OPTIONS, type Args, type CommandSpec, type OptionSpec } from './spec.js';

/** A command and its arguments, or undefined when yargs must decide. */
export function parseFast(
  argv: readonly string[],
): { command: CommandSpec; args: Args } | undefined {
  const command = COMMANDS.find((c) => c.name === argv[0]);
  if (command === undefined || command.unknownOptionsAsArgs === true) return undefined;
  const options = new Map<string, OptionSpec>();
  for (const o of [...GLOBAL_OPTIONS, ...command.options]) options.set(o.name, o);
  const values = new Map<string, unknown>();
  const positionals: string[] = [];
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i] as string;
    if (!a.startsWith('-')) {
      positionals.push(a);
      continue;
    }
    if (!a.startsWith('--') || a === '--') return undefined;
    const eq = a.indexOf('=');
    const name = a.slice(2, eq < 0 ? undefined : eq);
    const inline = eq < 0 ? undefined : a.slice(eq + 1);
    const negated = name.startsWith('no-') ? options.get(name.slice(3)) : undefined;
    const o = options.get(name) ?? negated;
    if (o === undefined || (values.has(o.name) && o.array !== true)) return undefined;
    if (o.type === 'boolean') {
      // `--flag=false`, `--flag true`: yargs reads the value; leave those spellings to it.
      const next = argv[i + 1];
      if (inline !== undefined || next === 'true' || next === 'false') return undefined;
      values.set(o.name, negated === undefined);
      continue;
    }
    if (negated !== undefined) return undefined;
    const taken: string[] = [];
    if (inline !== undefined) taken.push(inline);
    // Arrays are greedy, as in yargs: `--tag a b` is two tags.
    while (
      (taken.length === 0 || o.array === true) &&
      i + 1 < argv.length &&
      !(argv[i + 1] as string).startsWith('-')
    )
      taken.push(argv[++i] as string);
    if (taken.length === 0 || taken.includes('')) return undefined;
    const parsed: unknown[] = [];
    for (const t of taken) {
      if (o.type === 'number') {
        if (!/^(0|[1-9][0-9]{0,14})$/.test(t)) return undefined;
        parsed.push(Number(t));
      } else {
        if (o.choices !== undefined && !o.choices.includes(t)) return undefined;
        parsed.push(t);
      }
    }
    if (o.array === true)
      values.set(o.name, [...((values.get(o.name) as unknown[]) ?? []), ...parsed]);
    else if (parsed.length === 1) values.set(o.name, parsed[0]);
    else return undefined;
  }
  const args: Record<string, unknown> = {};
  for (const o of options.values()) {
    const v = values.get(o.name) ?? (Array.isArray(o.default) ? [...o.default] : o.default);
    if (v === undefined && o.demand === true) return undefined;
    if (v !== undefined) args[o.name] = v;
  }
  let next = 0;
  for (const p of command.positionals) {
    if (p.array === true) {
      const rest = positionals.slice(next);
      next = positionals.length;
      if (rest.length === 0 && p.demand) return undefined;
      args[p.name] = rest;
    } else {
      const v = positionals[next++];
      if (v === undefined) return undefined;
      args[p.name] = v;
    }
  }
  if (next < positionals.length) return undefined;
  const typed = args as Args;
  if (command.check !== undefined && command.check(typed) !== true) return undefined;
  return { command, args: typed };
}
