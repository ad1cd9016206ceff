// Renders docs/rules.md from `starlark_doc_extract` output (ModuleInfo text protos): every rule
// with its attributes, every provider with its fields, every module extension with its tags.
// Usage: render.mjs OUT MODULE_INFO.textproto...
// Bazel 7 ships starlark_doc_extract but no renderer (stardoc is not available offline here).
import fs from 'node:fs';

// --- a small protobuf text format reader (what starlark_doc_extract writes) -----------------

function tokenize(text) {
  const tokens = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (/\s/.test(c)) {
      i++;
    } else if (c === '#') {
      while (i < text.length && text[i] !== '\n') i++;
    } else if ('{}:[],<>'.includes(c)) {
      tokens.push({ t: c });
      i++;
    } else if (c === '"' || c === "'") {
      const bytes = [];
      i++;
      while (text[i] !== c) {
        if (i >= text.length) throw new Error('unterminated string');
        if (text[i] === '\\') {
          const e = text[i + 1];
          const simple = {
            n: 10,
            t: 9,
            r: 13,
            '"': 34,
            "'": 39,
            '\\': 92,
            a: 7,
            b: 8,
            f: 12,
            v: 11,
          };
          if (e in simple) {
            bytes.push(simple[e]);
            i += 2;
          } else if (/[0-7]/.test(e)) {
            const m = /^[0-7]{1,3}/.exec(text.slice(i + 1));
            bytes.push(parseInt(m[0], 8));
            i += 1 + m[0].length;
          } else if (e === 'x') {
            const m = /^[0-9a-fA-F]{1,2}/.exec(text.slice(i + 2));
            bytes.push(parseInt(m[0], 16));
            i += 2 + m[0].length;
          } else {
            throw new Error(`unknown escape \\${e}`);
          }
        } else {
          bytes.push(...Buffer.from(text[i], 'utf8'));
          i++;
        }
      }
      i++;
      tokens.push({ t: 'str', v: Buffer.from(bytes).toString('utf8') });
    } else {
      const m = /^[A-Za-z0-9_.+-]+/.exec(text.slice(i));
      if (!m) throw new Error(`unexpected ${JSON.stringify(c)} at ${i}`);
      tokens.push({ t: 'id', v: m[0] });
      i += m[0].length;
    }
  }
  return tokens;
}

/** Every field becomes an array of values (messages are objects, scalars strings). */
function parseMessage(tokens, pos, end) {
  const msg = {};
  while (pos.i < tokens.length && tokens[pos.i].t !== end) {
    const name = tokens[pos.i++];
    if (name.t !== 'id') throw new Error(`field name expected, got ${JSON.stringify(name)}`);
    if (tokens[pos.i].t === ':') pos.i++;
    const tok = tokens[pos.i++];
    let value;
    if (tok.t === '{' || tok.t === '<') {
      value = parseMessage(tokens, pos, tok.t === '{' ? '}' : '>');
      pos.i++;
    } else if (tok.t === 'str') {
      value = tok.v;
      // adjacent string literals concatenate
      while (tokens[pos.i]?.t === 'str') value += tokens[pos.i++].v;
    } else {
      value = tok.v;
    }
    (msg[name.v] ??= []).push(value);
  }
  return msg;
}

function parseTextproto(text) {
  return parseMessage(tokenize(text), { i: 0 }, undefined);
}

// --- rendering --------------------------------------------------------------------------

const first = (m, k, d = '') => (m[k] ?? [d])[0];
const all = (m, k) => m[k] ?? [];

const TYPES = {
  NAME: 'name',
  INT: 'integer',
  LABEL: 'label',
  STRING: 'string',
  STRING_LIST: 'list of strings',
  INT_LIST: 'list of integers',
  LABEL_LIST: 'list of labels',
  BOOLEAN: 'boolean',
  LABEL_STRING_DICT: 'dict: label → string',
  STRING_DICT: 'dict: string → string',
  STRING_LIST_DICT: 'dict: string → list of strings',
  LABEL_DICT_UNARY: 'dict: string → label',
  OUTPUT: 'output',
  OUTPUT_LIST: 'list of outputs',
};

const cell = (s) => s.replace(/\|/g, '\\|').replace(/\n\n+/g, '<br><br>').replace(/\n/g, ' ');
const anchor = (s) => s.toLowerCase().replace(/[^a-z0-9_-]/g, '');

function attributeTable(attrs) {
  const rows = ['| Attribute | Type | Default | Description |', '|---|---|---|---|'];
  for (const a of attrs) {
    const name = first(a, 'name');
    let type = TYPES[first(a, 'type')] ?? first(a, 'type').toLowerCase();
    const providers = all(a, 'provider_name_group').flatMap((g) => all(g, 'provider_name'));
    if (providers.length > 0) type += ` (providing ${providers.map((p) => `\`${p}\``).join(', ')})`;
    const mandatory = first(a, 'mandatory') === 'true';
    const def = mandatory
      ? 'required'
      : first(a, 'default_value') === ''
        ? ''
        : `\`${first(a, 'default_value')}\``;
    rows.push(`| \`${name}\` | ${cell(type)} | ${cell(def)} | ${cell(first(a, 'doc_string'))} |`);
  }
  return rows.join('\n');
}

function render(modules) {
  const out = [];
  const toc = [];
  const sections = [];
  for (const { file, info } of modules) {
    for (const r of all(info, 'rule_info')) {
      const name = first(r, 'rule_name');
      const kind =
        first(r, 'test') === 'true'
          ? 'test rule'
          : first(r, 'executable') === 'true'
            ? 'executable rule'
            : 'rule';
      toc.push(`- [\`${name}\`](#${anchor(name)}) (${kind})`);
      sections.push(
        `## ${name}\n\n${kind}, \`load("@ocikit${file}", "${name}")\`\n\n${first(r, 'doc_string')}\n\n${attributeTable(all(r, 'attribute'))}`,
      );
    }
    for (const p of all(info, 'provider_info')) {
      const name = first(p, 'provider_name');
      toc.push(`- [\`${name}\`](#${anchor(name)}) (provider)`);
      const rows = [
        '| Field | Description |',
        '|---|---|',
        ...all(p, 'field_info').map(
          (f) => `| \`${first(f, 'name')}\` | ${cell(first(f, 'doc_string'))} |`,
        ),
      ];
      sections.push(
        `## ${name}\n\nprovider, \`load("@ocikit${file}", "${name}")\`\n\n${first(p, 'doc_string')}\n\n${rows.join('\n')}`,
      );
    }
    for (const e of all(info, 'module_extension_info')) {
      const name = first(e, 'extension_name');
      toc.push(`- [\`${name}\`](#${anchor(name)}) (module extension)`);
      const tags = all(e, 'tag_class').map(
        (t) =>
          `### ${name}.${first(t, 'tag_name')}\n\n${first(t, 'doc_string')}\n\n${attributeTable(all(t, 'attribute'))}`,
      );
      sections.push(
        `## ${name}\n\nmodule extension, \`use_extension("@ocikit${file}", "${name}")\`\n\n${first(e, 'doc_string')}\n\n${tags.join('\n\n')}`,
      );
    }
    for (const f of all(info, 'func_info')) {
      throw new Error(
        `${file}: public function ${first(f, 'function_name')} is not rendered; document it or keep it private`,
      );
    }
  }
  out.push(
    "<!-- Generated from the rules' docstrings by rules/tests/docs/render.mjs: do not edit.",
  );
  out.push(
    '     Regenerate: bazel run //rules/tests/docs:update. Checked by //rules/tests/docs:rules_md_test. -->',
  );
  out.push('');
  out.push('# ocikit Bazel rules reference');
  out.push('');
  // The first file's module docstring is the introduction (set-up, node, flags).
  out.push(first(modules[0].info, 'module_docstring'), '');
  out.push('## Contents', '', ...toc, '');
  out.push(sections.join('\n\n'));
  return `${out.join('\n').replace(/[ \t]+$/gm, '')}\n`;
}

const [outFile, ...inputs] = process.argv.slice(2);
const modules = inputs.map((f) => {
  const info = parseTextproto(fs.readFileSync(f, 'utf8'));
  return { file: first(info, 'file').replace(/^@[^/]*\/\//, '//'), info };
});
fs.writeFileSync(outFile, render(modules));
