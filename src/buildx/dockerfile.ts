/**
 * A Dockerfile read the way BuildKit's Dockerfile frontend reads it
 * (frontend/dockerfile/parser: parser.go, directives.go, split_command.go, line_parsers.go),
 * down to instructions: parser directives at the top (`# syntax=`, `# escape=`, `# check=`),
 * comments, line continuations with the escape token (comment and empty lines inside a
 * continuation are skipped), heredocs of RUN, COPY and ADD (their bodies are not
 * instructions), leading `--flag=value` words split off, keywords case-insensitive, and
 * ONBUILD's trigger parsed as an instruction of its own. Written from the grammar, not copied.
 *
 * What ocikit needs from it is in src/buildx/sources.ts (which images a build pulls); this
 * module knows the syntax only. Errors are {@link DockerfileSyntaxError} with BuildKit's
 * wording and the line.
 */

/** A Dockerfile BuildKit would refuse; `line` is 1-based. */
export class DockerfileSyntaxError extends Error {
  constructor(
    message: string,
    readonly line: number,
  ) {
    super(message);
  }
}

/** One instruction, continuation lines joined. */
export interface Instruction {
  /** The keyword in lower case (`from`, `run`, ...). */
  keyword: string;
  /** Leading `--flag[=value]` words, quotes and escapes removed. */
  flags: string[];
  /** The rest of the line after the flags, trimmed. */
  args: string;
  /** First and last physical line (1-based). */
  line: number;
  endLine: number;
  /** The instruction an ONBUILD runs later. */
  trigger?: Instruction;
}

/** A parser directive (`# syntax=docker/dockerfile:1`). */
export interface Directive {
  name: string;
  value: string;
  line: number;
}

/** A parsed Dockerfile. */
export interface ParsedDockerfile {
  directives: Directive[];
  /** The escape token: `\` or `` ` ``. */
  escape: string;
  instructions: Instruction[];
}

const DIRECTIVE = /^([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$/;
const KNOWN_DIRECTIVES = new Set(['syntax', 'escape', 'check']);
const WHITESPACE = /[\t\v\f\r ]+/;
const HEREDOC = /^(\d*)<<(-?)\s*([^<]*)$/;
const HEREDOC_KEYWORDS = new Set(['add', 'copy', 'run']);

/** The top-of-file directive parser: directives until the first line that is not one. */
class Directives {
  done = false;
  readonly found: Directive[] = [];
  private readonly seen = new Set<string>();

  constructor(private readonly comment = '#') {}

  /** Feed one line; true when it was a directive. */
  line(text: string, lineNo: number): boolean {
    if (this.done) return false;
    if (!text.startsWith(this.comment)) {
      this.done = true;
      return false;
    }
    const m = DIRECTIVE.exec(text.slice(this.comment.length).replace(/^\s+/, ''));
    const name = m?.[1]?.toLowerCase();
    if (m === null || name === undefined || !KNOWN_DIRECTIVES.has(name)) {
      this.done = true;
      return false;
    }
    if (this.seen.has(name))
      throw new DockerfileSyntaxError(`only one ${name} parser directive can be used`, lineNo);
    this.seen.add(name);
    this.found.push({ name, value: m[2] as string, line: lineNo });
    return true;
  }
}

/** Physical lines without their line endings; a UTF-8 byte-order mark is dropped. */
function physicalLines(text: string): string[] {
  const body = text.startsWith('\uFEFF') ? text.slice(1) : text;
  const lines = body.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines.map((l) => l.replace(/[\r\n]+$/, ''));
}

function isComment(line: string): boolean {
  return /^\s*#/.test(line);
}

/** `[line without the continuation token, continues]`, as BuildKit's continuation regexp decides. */
function continuation(line: string, escape: string): [string, boolean] {
  const e = escape === '`' ? '`' : '\\\\';
  const re = new RegExp(`([^${e}])${e}[ \\t]*$|^${e}[ \\t]*$`);
  const m = re.exec(line);
  if (m === null) return [line, false];
  return [line.slice(0, m.index) + (m[1] ?? ''), true];
}

/**
 * Leading `--name[=value]` words of an instruction (quotes removed, escapes applied), as
 * BuildKit splits them off before the instruction parses its arguments. `--` ends them.
 */
function splitFlags(rest: string, escape: string): { flags: string[]; args: string } {
  const flags: string[] = [];
  let i = 0;
  for (;;) {
    while (i < rest.length && /\s/.test(rest[i] as string)) i++;
    if (i >= rest.length) return { flags, args: '' };
    if (!rest.startsWith('--', i)) return { flags, args: rest.slice(i).trim() };
    let word = '';
    let quote = '';
    let quoted = false;
    for (; i < rest.length; i++) {
      let c = rest[i] as string;
      if (quote === '' && /\s/.test(c)) break;
      if (quote === '' && (c === '"' || c === "'")) {
        quote = c;
        quoted = true;
        continue;
      }
      if (quote !== '' && c === quote) {
        quote = '';
        continue;
      }
      if (c === escape) {
        if (i + 1 === rest.length) continue;
        i++;
        c = rest[i] as string;
      }
      word += c;
    }
    if (word === '--') return { flags, args: rest.slice(i).trim() };
    if (word !== '' || quoted) flags.push(word);
  }
}

/**
 * The words of a line as BuildKit's lexer splits them to find heredocs: quotes and escapes
 * kept, `\\` as the escape (whatever `# escape=` says), and `<<` keeping the blanks after it.
 */
function rawWords(line: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  const end = (): void => {
    if (inWord && word !== '') words.push(word);
    word = '';
    inWord = false;
  };
  for (let i = 0; i < line.length; i++) {
    const c = line[i] as string;
    inWord = inWord || !/\s/.test(c);
    if (c === "'" || c === '"') {
      let j = i + 1;
      while (j < line.length && line[j] !== c) j += c === '"' && line[j] === '\\' ? 2 : 1;
      word += line.slice(i, j + 1);
      i = j;
    } else if (c === '\\') {
      word += line.slice(i, i + 2);
      i++;
    } else if (c === '<' && line[i + 1] === '<') {
      let j = i + 2;
      while (j < line.length && (line[j] === ' ' || line[j] === '\t')) j++;
      word += line.slice(i, j);
      i = j - 1;
    } else if (/\s/.test(c)) {
      end();
    } else {
      word += c;
    }
  }
  end();
  return words;
}

/** The heredoc terminators a RUN/COPY/ADD line opens (`<<EOF`, `<<-"EOF"`, `3<<EOF`), in order. */
function heredocs(line: string): { name: string; chomp: boolean }[] {
  const docs: { name: string; chomp: boolean }[] = [];
  for (const w of rawWords(line)) {
    const m = HEREDOC.exec(w);
    if (m === null || m[3] === '') continue;
    const name = unquote(m[3] as string);
    if (name !== undefined) docs.push({ name, chomp: m[2] === '-' });
  }
  return docs;
}

/** One word with its quotes removed, or undefined when it is several words. */
function unquote(word: string): string | undefined {
  let out = '';
  for (let i = 0; i < word.length; i++) {
    const c = word[i] as string;
    if (c === "'" || c === '"') {
      const close = word.indexOf(c, i + 1);
      if (close < 0) return undefined;
      out += word.slice(i + 1, close);
      i = close;
    } else if (c === '\\') {
      out += word[i + 1] ?? '';
      i++;
    } else if (/\s/.test(c)) {
      return undefined;
    } else out += c;
  }
  return out;
}

function isJsonArray(args: string): boolean {
  if (!args.startsWith('[')) return false;
  try {
    return Array.isArray(JSON.parse(args));
  } catch {
    return false;
  }
}

/** keyword, flags and arguments of one logical line (ONBUILD's trigger included). */
function instruction(text: string, line: number, endLine: number, escape: string): Instruction {
  const trimmed = text.trim();
  const gap = WHITESPACE.exec(trimmed);
  const keyword = gap === null ? trimmed : trimmed.slice(0, gap.index);
  const rest = gap === null ? '' : trimmed.slice(gap.index + gap[0].length);
  const { flags, args } = splitFlags(rest, escape);
  const ins: Instruction = { keyword: keyword.toLowerCase(), flags, args, line, endLine };
  if (ins.keyword === 'onbuild' && args !== '')
    ins.trigger = instruction(args, line, endLine, escape);
  return ins;
}

/**
 * Parse a Dockerfile into directives and instructions.
 * @throws DockerfileSyntaxError as BuildKit would refuse the file (repeated directive, bad
 *   escape token, unterminated heredoc, no instruction at all)
 */
export function parseDockerfile(text: string): ParsedDockerfile {
  const lines = physicalLines(text);
  const directives = new Directives();
  let escape = '\\';
  const instructions: Instruction[] = [];

  /** Strip the line ending, look for a directive, and drop comments (as BuildKit's processLine). */
  const process = (raw: string, lineNo: number, trimLeft: boolean): string => {
    const token = trimLeft ? raw.replace(/^\s+/, '') : raw;
    if (directives.line(token, lineNo)) {
      const d = directives.found[directives.found.length - 1] as Directive;
      if (d.name === 'escape') {
        if (d.value !== '`' && d.value !== '\\')
          throw new DockerfileSyntaxError(
            `invalid escape token '${d.value}' does not match \` or \\`,
            lineNo,
          );
        escape = d.value;
      }
    }
    return isComment(token) ? '' : token;
  };

  for (let i = 0; i < lines.length; i++) {
    const start = i + 1;
    let [text, more] = continuation(process(lines[i] as string, start, true), escape);
    if (!more && text === '') continue;
    while (more && i + 1 < lines.length) {
      i++;
      const raw = lines[i] as string;
      const next = process(raw, i + 1, false);
      if (isComment(raw) || next.trim() === '') continue;
      let piece: string;
      [piece, more] = continuation(next, escape);
      text += piece;
    }
    const ins = instruction(text, start, i + 1, escape);
    const body = ins.keyword === 'onbuild' ? ins.trigger : ins;
    if (
      body !== undefined &&
      HEREDOC_KEYWORDS.has(body.keyword) &&
      !isJsonArray(body.args) &&
      text.includes('<<')
    ) {
      for (const doc of heredocs(text)) {
        let closed = false;
        while (i + 1 < lines.length) {
          i++;
          let l = lines[i] as string;
          if (doc.chomp) l = l.replace(/^\t+/, '');
          if (l === doc.name) {
            closed = true;
            break;
          }
        }
        if (!closed) throw new DockerfileSyntaxError('unterminated heredoc', start);
      }
      ins.endLine = i + 1;
      if (ins.trigger !== undefined) ins.trigger.endLine = i + 1;
    }
    instructions.push(ins);
  }
  if (instructions.length === 0)
    throw new DockerfileSyntaxError('file with no instructions', lines.length);
  return { directives: directives.found, escape, instructions };
}

/**
 * The `# syntax=` frontend image as BuildKit detects it (frontend/dockerfile/parser
 * DetectSyntax): a leading `#!` line skipped, then `# syntax=IMAGE [ARGS]` among the
 * directives at the very top (also written `// syntax=`), or a JSON document's `"syntax"`.
 * @returns the image (the value's first word) and its 1-based line, or undefined
 */
export function detectSyntax(text: string): { image: string; line: number } | undefined {
  let lines = physicalLines(text);
  let offset = 0;
  if (lines[0]?.startsWith('#!')) {
    lines = lines.slice(1);
    offset = 1;
  }
  for (const comment of ['#', '//']) {
    const d = new Directives(comment);
    try {
      for (const [i, l] of lines.entries()) {
        d.line(l, i + 1 + offset);
        if (d.done) break;
      }
    } catch {
      // A repeated directive: BuildKit keeps what it read before it.
    }
    const found = d.found.find((x) => x.name === 'syntax');
    if (found !== undefined)
      return { image: found.value.split(' ')[0] as string, line: found.line };
  }
  try {
    const doc = JSON.parse(text.startsWith('\uFEFF') ? text.slice(1) : text) as unknown;
    if (doc !== null && typeof doc === 'object' && !Array.isArray(doc)) {
      const v = (doc as Record<string, unknown>)['syntax'];
      if (typeof v === 'string') return { image: v, line: 1 + offset };
    }
  } catch {
    // not JSON
  }
  return undefined;
}

/**
 * Words of an ARG line: split at unquoted white space, quotes kept (BuildKit's parseWords; the
 * values are expanded later, quotes and all).
 */
export function argWords(args: string, escape: string): string[] {
  const words: string[] = [];
  let word = '';
  let quote = '';
  let blankOk = false;
  const chars = [...args];
  for (let i = 0; i < chars.length; i++) {
    let c = chars[i] as string;
    if (quote === '') {
      if (/\s/.test(c)) {
        if (blankOk || word !== '') words.push(word);
        word = '';
        blankOk = false;
        continue;
      }
      if (c === "'" || c === '"') {
        quote = c;
        blankOk = true;
      }
      if (c === escape) {
        if (i + 1 === chars.length) continue;
        word += c;
        i++;
        c = chars[i] as string;
      }
      word += c;
    } else {
      if (c === quote) quote = '';
      else if (c === escape && quote !== "'") {
        if (i + 1 === chars.length) continue;
        word += c;
        i++;
        c = chars[i] as string;
      }
      word += c;
    }
  }
  if (blankOk || word !== '') words.push(word);
  return words;
}

/**
 * Comma-separated `key=value` fields of a `--mount` value (CSV: `"` quotes a field, `""` is a
 * quote inside one).
 * @throws DockerfileSyntaxError on a quote that is never closed
 */
export function csvFields(value: string, line: number): string[] {
  const fields: string[] = [];
  let field = '';
  let i = 0;
  let atStart = true;
  while (i <= value.length) {
    const c = value[i];
    if (c === undefined || c === ',') {
      fields.push(field);
      field = '';
      atStart = true;
      i++;
      if (c === undefined) break;
      continue;
    }
    if (atStart && c === '"') {
      i++;
      for (;;) {
        if (i >= value.length)
          throw new DockerfileSyntaxError(
            'failed to parse csv mounts: extraneous or missing " in quoted-field',
            line,
          );
        if (value[i] === '"') {
          if (value[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        field += value[i];
        i++;
      }
      atStart = false;
      continue;
    }
    atStart = false;
    field += c;
    i++;
  }
  return fields;
}
