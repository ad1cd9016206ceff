/**
 * Word expansion as BuildKit's Dockerfile frontend applies it to `FROM` names, `FROM --platform`
 * and `ARG` defaults (frontend/dockerfile/shell/lex.go, `ProcessWord`), written from its
 * documented behaviour:
 *
 * - `'...'` is literal; `"..."` is literal except `$` expansions and the escape token before
 *   `"`, `$` or itself; outside quotes the escape token (`\`, or `` ` `` after `# escape=`)
 *   takes the next character literally (and is dropped at the end of the word).
 * - `$NAME`, `${NAME}`; `$1`-style digits and the special parameters `@ * # ? - $ ! 0` are
 *   names too (never set in a Dockerfile, so empty).
 * - `${NAME:-WORD}` / `${NAME-WORD}` (default when unset, or empty too with `:`), `${NAME:+WORD}` /
 *   `${NAME+WORD}` (alternative), `${NAME:?WORD}` / `${NAME?WORD}` (error), `${NAME#PAT}`,
 *   `${NAME##PAT}`, `${NAME%PAT}`, `${NAME%%PAT}` (remove the shortest / longest prefix or suffix
 *   matching a pattern of `*` and `?`), `${NAME/PAT/REPL}` and `${NAME//PAT/REPL}` (replace the
 *   first / every match). WORD is itself expanded.
 * - An unset name expands to the empty string.
 *
 * Errors (unbalanced quotes or braces, unknown modifiers, `:?` on an unset name) are thrown as
 * {@link WordError} with BuildKit's wording, so callers can say what BuildKit would say.
 */

/** A word BuildKit would refuse to expand. */
export class WordError extends Error {}

/** The result of {@link expandWord}. */
export interface Expanded {
  value: string;
  /** Names that were referenced but not set. */
  unset: string[];
}

const SPECIAL = new Set(['@', '*', '#', '?', '-', '$', '!', '0']);
const MODIFIERS = ['+', '-', '?', '#', '%'];
const EOF = '';

class Scanner {
  pos = 0;
  constructor(readonly text: string) {}
  peek(): string {
    return this.pos < this.text.length ? (this.text[this.pos] as string) : EOF;
  }
  next(): string {
    const c = this.peek();
    if (c !== EOF) this.pos++;
    return c;
  }
}

class Expander {
  readonly s: Scanner;
  readonly unset = new Set<string>();
  constructor(
    text: string,
    readonly env: ReadonlyMap<string, string>,
    readonly escape: string,
  ) {
    this.s = new Scanner(text);
  }

  /** Up to `stop` (consumed) or the end; `raw` keeps escape tokens (patterns need them). */
  word(stop: string, raw: boolean): string {
    let out = '';
    for (;;) {
      const c = this.s.peek();
      if (c === EOF) break;
      if (stop !== EOF && c === stop) {
        this.s.next();
        return out;
      }
      if (c === '$') out += this.dollar();
      else if (c === "'") out += this.single();
      else if (c === '"') out += this.double(raw);
      else {
        this.s.next();
        if (c === this.escape) {
          if (raw) out += c;
          const n = this.s.next();
          if (n === EOF) break;
          out += n;
        } else out += c;
      }
    }
    if (stop !== EOF)
      throw new WordError(`unexpected end of statement while looking for matching ${stop}`);
    return out;
  }

  single(): string {
    this.s.next();
    let out = '';
    for (;;) {
      const c = this.s.next();
      if (c === EOF)
        throw new WordError('unexpected end of statement while looking for matching single-quote');
      if (c === "'") return out;
      out += c;
    }
  }

  double(raw: boolean): string {
    this.s.next();
    let out = '';
    for (;;) {
      const c = this.s.peek();
      if (c === EOF)
        throw new WordError('unexpected end of statement while looking for matching double-quote');
      if (c === '"') {
        this.s.next();
        return out;
      }
      if (c === '$') {
        out += this.dollar();
        continue;
      }
      let ch = this.s.next();
      if (ch === this.escape) {
        if (raw) out += ch;
        const n = this.s.peek();
        if (n === EOF) continue;
        if (n === '"' || n === '$' || n === this.escape) ch = this.s.next();
      }
      out += ch;
    }
  }

  name(): string {
    let out = '';
    const first = this.s.peek();
    if (/^[0-9]$/.test(first)) {
      while (/^[0-9]$/.test(this.s.peek())) out += this.s.next();
      return out;
    }
    if (SPECIAL.has(first)) return this.s.next();
    while (/^[\p{L}\p{N}_]$/u.test(this.s.peek())) out += this.s.next();
    return out;
  }

  get(name: string): string | undefined {
    const v = this.env.get(name);
    if (v === undefined) this.unset.add(name);
    return v;
  }

  dollar(): string {
    this.s.next();
    if (this.s.peek() !== '{') {
      const name = this.name();
      return name === '' ? '$' : (this.get(name) ?? '');
    }
    this.s.next();
    const first = this.s.peek();
    if (first === EOF) throw new WordError("syntax error: missing '}'");
    if (first === '{' || first === '}' || first === ':')
      throw new WordError('syntax error: bad substitution');
    const name = this.name();
    let op = this.s.next();
    if (op === EOF) throw new WordError("syntax error: missing '}'");
    if (op === '}') return this.get(name) ?? '';
    if (op === '/') return this.replace(name);
    let ops = op;
    let nullIsUnset = false;
    if (op === ':') {
      nullIsUnset = true;
      op = this.s.next();
      ops += op;
    } else if (!MODIFIERS.includes(op)) {
      throw new WordError(`unsupported modifier (${ops}) in substitution`);
    }
    const raw = op === '#' || op === '%';
    if (nullIsUnset && raw) throw new WordError(`unsupported modifier (${ops}) in substitution`);
    // BuildKit reads the word before it looks at the modifier.
    const word = this.braced(raw);
    if (!MODIFIERS.includes(op))
      throw new WordError(`unsupported modifier (${ops}) in substitution`);
    const value = this.get(name);
    const empty = value === undefined || (nullIsUnset && value === '');
    switch (op) {
      case '-':
        return empty ? word : (value as string);
      case '+':
        return empty ? '' : word;
      case '?':
        if (value === undefined)
          throw new WordError(`${name}: ${word || 'is not allowed to be unset'}`);
        if (nullIsUnset && value === '')
          throw new WordError(`${name}: ${word || 'is not allowed to be empty'}`);
        return value;
      default: {
        const greedy = word.startsWith(op);
        const pattern = greedy ? word.slice(1) : word;
        return op === '#'
          ? trimPrefix(pattern, value ?? '', greedy)
          : trimSuffix(pattern, value ?? '', greedy);
      }
    }
  }

  braced(raw: boolean): string {
    try {
      return this.word('}', raw);
    } catch (e) {
      if (this.s.peek() === EOF) throw new WordError("syntax error: missing '}'");
      throw e;
    }
  }

  replace(name: string): string {
    const all = this.s.peek() === '/';
    if (all) this.s.next();
    let pattern: string;
    try {
      pattern = this.word('/', true);
    } catch (e) {
      if (this.s.peek() === EOF) throw new WordError("syntax error: missing '/' in ${}");
      throw e;
    }
    const replacement = this.braced(true);
    const value = this.get(name) ?? '';
    const re = patternRegExp(pattern, true, false, all);
    if (all) return value.replace(re, (m) => goTemplate(replacement, m));
    const m = re.exec(value);
    return m === null
      ? value
      : value.slice(0, m.index) + replacement + value.slice(m.index + m[0].length);
  }
}

/**
 * A shell pattern (`*`, `?`, `\` escapes; no brackets) as a regular expression. `*` is lazy
 * unless greedy; anchored patterns match at the start only.
 */
function patternRegExp(
  pattern: string,
  greedy: boolean,
  anchored: boolean,
  global = false,
): RegExp {
  let out = anchored ? '^' : '';
  for (let i = 0; i < pattern.length; i++) {
    let c = pattern[i] as string;
    if (c === '*') {
      out += greedy ? '.*' : '.*?';
      continue;
    }
    if (c === '?') {
      out += '.';
      continue;
    }
    if (c === '\\') {
      const n = pattern[i + 1];
      if (n === '}' || n === '/') continue;
      i++;
      if (n !== '*' && n !== '?' && n !== '\\')
        throw new WordError(
          `invalid pattern (${pattern}) in substitution: invalid escape '\\${n ?? ''}'`,
        );
      out += `\\${n}`;
      continue;
    }
    if ('[]{}.+()|^$'.includes(c)) c = `\\${c}`;
    out += c;
  }
  return new RegExp(out, global ? 'gu' : 'u');
}

/** Go's regexp template expansion with no capture groups: `$$` is `$`, `$0` the match, other names empty. */
function goTemplate(template: string, match: string): string {
  return template.replace(/\$(\$|\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+))/g, (all, d, braced, bare) => {
    if (d === '$') return '$';
    const name = (braced ?? bare) as string;
    return name === '0' ? match : '';
  });
}

function trimPrefix(pattern: string, value: string, greedy: boolean): string {
  const m = patternRegExp(pattern, greedy, true).exec(value);
  return m === null ? value : value.slice(m[0].length);
}

function reversePattern(pattern: string): string {
  const chars = [...pattern];
  const out: string[] = [];
  for (let i = 0; i < chars.length;) {
    if (chars[i] === '\\' && i !== chars.length - 1) {
      out.unshift(chars[i] as string, chars[i + 1] as string);
      i += 2;
    } else {
      out.unshift(chars[i] as string);
      i++;
    }
  }
  return out.join('');
}

function trimSuffix(pattern: string, value: string, greedy: boolean): string {
  const reversed = trimPrefix(reversePattern(pattern), [...value].reverse().join(''), greedy);
  return [...reversed].reverse().join('');
}

/**
 * Expand one word with the variables in `env` (as BuildKit expands FROM names and ARG values).
 * @param escape the Dockerfile's escape token (`\` unless `# escape=` says `` ` ``)
 * @throws WordError when BuildKit would refuse the word
 */
export function expandWord(
  word: string,
  env: ReadonlyMap<string, string>,
  escape = '\\',
): Expanded {
  const x = new Expander(word, env, escape);
  const value = x.word(EOF, false);
  return { value, unset: [...x.unset] };
}
