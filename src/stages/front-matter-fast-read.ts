import { FAILSAFE_SCHEMA, load, Type } from 'js-yaml';

/**
 * A quicker first reading of front matter, for the plain YAML nearly every SKILL.md has: `js-yaml` with a
 * schema that resolves scalars exactly as `yaml`'s YAML 1.2 core schema does. `parseSkill` reads front matter
 * with `yaml` (its errors, positions and repairs are the rules' reference); a cold `index` spent ~0.9 core-s
 * there on 1,437 small documents (its parser is big, and most of that is getting it compiled), js-yaml ~0.25.
 *
 * The result must be the one `yaml` gives, or the fast reading is not used: `parseSkill` falls back to `yaml`
 * whenever {@link fastFrontMatter} returns undefined. It does so for
 * - text js-yaml cannot read (every YAML error, duplicate keys, unknown tags, nesting over 100 levels);
 * - constructs the two read differently or that need `yaml`'s guards: a lone CR (a line break to js-yaml),
 *   directives, anchors (js-yaml has no alias limit), tags, a key that is null (`yaml` names it '', js-yaml
 *   'null'), a quoted scalar or flow collection that does not close on its own line (js-yaml accepts
 *   continuation lines `yaml` rejects as under-indented), and a root that does not start with a key.
 * `test/front-matter-fast-read.test.ts` checks the agreement on every corpus front matter and on seeded random
 * mutations of them: acceptance, data, key lines and duplicate keys.
 */

// The YAML 1.2 core schema's scalars, with `yaml`'s own tests and values (yaml/dist/schema/core/*.js).
const NULL_RE = /^(?:~|[Nn]ull|NULL)?$/;
const BOOL_RE = /^(?:[Tt]rue|TRUE|[Ff]alse|FALSE)$/;
const INT_RE = /^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$/;
const FLOAT_RE =
  /^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)[eE][-+]?[0-9]+|[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*))$/;
const FLOAT_SPECIAL_RE = /^(?:[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN)$/;

const CORE_SCHEMA = FAILSAFE_SCHEMA.extend({
  implicit: [
    new Type('tag:yaml.org,2002:null', {
      kind: 'scalar',
      resolve: (s: string) => NULL_RE.test(s),
      construct: () => null,
      predicate: (v: unknown) => v === null,
    }),
    new Type('tag:yaml.org,2002:bool', {
      kind: 'scalar',
      resolve: (s: string) => BOOL_RE.test(s),
      construct: (s: string) => s[0] === 't' || s[0] === 'T',
      predicate: (v: unknown) => typeof v === 'boolean',
    }),
    new Type('tag:yaml.org,2002:int', {
      kind: 'scalar',
      resolve: (s: string) => INT_RE.test(s),
      construct: (s: string) =>
        s.startsWith('0o')
          ? parseInt(s.slice(2), 8)
          : s.startsWith('0x')
            ? parseInt(s.slice(2), 16)
            : parseInt(s, 10),
      predicate: (v: unknown) => Number.isInteger(v),
    }),
    new Type('tag:yaml.org,2002:float', {
      kind: 'scalar',
      resolve: (s: string) => FLOAT_RE.test(s) || FLOAT_SPECIAL_RE.test(s),
      construct: (s: string) =>
        FLOAT_SPECIAL_RE.test(s)
          ? s.slice(-3).toLowerCase() === 'nan'
            ? NaN
            : s.startsWith('-')
              ? -Infinity
              : Infinity
          : parseFloat(s),
      predicate: (v: unknown) => typeof v === 'number',
    }),
  ],
});

/** A front matter read by the fast path. */
export interface FastFrontMatter {
  /** What `yaml`'s `toJS()` gives for the text. */
  data: unknown;
  /** Line (1-based, in the YAML text) of the last top-level key `key`, as `yaml`'s key range gives it. */
  keyLine(key: string): number | undefined;
}

/** The front matter read by js-yaml when that is sure to equal `yaml`'s reading; undefined: use `yaml`. */
export function fastFrontMatter(yamlText: string): FastFrontMatter | undefined {
  if (!fastEligible(yamlText)) return undefined;
  let data: unknown;
  try {
    data = load(yamlText, { schema: CORE_SCHEMA });
  } catch {
    return undefined;
  }
  if (hasNullKey(data)) return undefined;
  return { data, keyLine: (key) => keyLineOf(yamlText, key) };
}

/** Whether the text avoids every construct the fast path leaves to `yaml` (see the module comment). */
function fastEligible(text: string): boolean {
  if (text.includes('\r')) return false;
  const first = /^[ ]*[^\s#]/m.exec(text)?.[0];
  if (first !== undefined && /[-?[{!&*|>%@`,:]/.test(first.slice(-1))) return false;
  if (/^%/m.test(text)) return false; // a directive (%YAML 1.1 changes the schema)
  if (/(?:^|[\s[{,])&\S/.test(text)) return false; // an anchor
  if (/(?:^|[\s[{,])!/.test(text)) return false; // a tag
  let from = 0;
  while (from <= text.length) {
    let end = text.indexOf('\n', from);
    if (end === -1) end = text.length;
    const line = text.slice(from, end);
    if (opensMultiLine(line) || longImplicitKey(line)) return false;
    from = end + 1;
  }
  return true;
}

/** The line's value starts a quoted scalar or flow collection that does not close on the same line. */
function opensMultiLine(line: string): boolean {
  let i = 0;
  while (line[i] === ' ') i++;
  while (line.startsWith('- ', i)) {
    i += 2;
    while (line[i] === ' ') i++;
  }
  const q0 = line[i];
  if (q0 === '"' || q0 === "'") {
    // A quoted key (or a quoted item): what follows its `:` is the value.
    const end = quoteEnd(line, i);
    if (end < 0) return true;
    const colon = /^\s*:(?:\s|$)/.exec(line.slice(end + 1));
    if (!colon) return false;
    i = end + 1 + colon[0].length;
  } else {
    const colon = line.indexOf(': ', i);
    if (colon < 0) return false;
    i = colon + 2;
  }
  while (line[i] === ' ') i++;
  const v = line[i];
  if (v === '[' || v === '{') return !flowCloses(line, i);
  if (v === '"' || v === "'") return quoteEnd(line, i) < 0;
  return false;
}

/**
 * A `:` indicator over 1,000 characters after the last place a key could start (the line's start, a flow
 * indicator or a quote): `yaml` rejects implicit keys over 1,024 characters, js-yaml reads them.
 */
function longImplicitKey(line: string): boolean {
  if (line.length <= 1000) return false;
  let keyStart = 0;
  for (let j = 0; j < line.length; j++) {
    const c = line[j];
    if (c === '{' || c === '[' || c === ',' || c === '"' || c === "'") keyStart = j;
    else if (c === ':' && isIndicatorEnd(line, j + 1) && j - keyStart > 1000) return true;
  }
  return false;
}

/** Whether a `:` just before `i` ends a key: followed by a space, a tab or the end of the line. */
function isIndicatorEnd(line: string, i: number): boolean {
  return i === line.length || line[i] === ' ' || line[i] === '\t';
}

/** Index of the quote closing the quoted scalar that opens at `i`, or -1. */
function quoteEnd(line: string, i: number): number {
  const q = line[i];
  for (let j = i + 1; j < line.length; j++) {
    const c = line[j];
    if (q === "'" && c === "'") {
      if (line[j + 1] === "'") {
        j++;
        continue;
      }
      return j;
    }
    if (q === '"' && c === '\\') {
      j++;
      continue;
    }
    if (q === '"' && c === '"') return j;
  }
  return -1;
}

/** Whether the flow collection opening at `i` closes on the same line (quoted scalars inside skipped). */
function flowCloses(line: string, i: number): boolean {
  let depth = 0;
  for (let j = i; j < line.length; j++) {
    const c = line[j];
    if ((c === '"' || c === "'") && /[\s[{,:]/.test(line[j - 1] ?? ' ')) {
      const end = quoteEnd(line, j);
      if (end < 0) return false;
      j = end;
      continue;
    }
    if (c === '[' || c === '{') depth++;
    else if (c === ']' || c === '}') {
      depth--;
      if (depth === 0) return true;
    }
  }
  return false;
}

/** A key `null` anywhere in the data. */
function hasNullKey(v: unknown): boolean {
  if (v === null || typeof v !== 'object') return false;
  if (Array.isArray(v)) return v.some(hasNullKey);
  return Object.entries(v).some(([k, child]) => k === 'null' || hasNullKey(child));
}

/**
 * The line of the last top-level key `key`: the root mapping's keys are the lines at its indentation (the
 * first content line's), since every value's continuation is indented further (or left to `yaml`).
 */
function keyLineOf(text: string, key: string): number | undefined {
  const lines = text.split('\n');
  let indent = -1;
  let found: number | undefined;
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n] as string;
    let i = 0;
    while (line[i] === ' ') i++;
    if (i === line.length || line[i] === '#') continue;
    if (indent < 0) indent = i;
    if (i !== indent) continue;
    let k: string | undefined;
    const q = line[i];
    if (q === '"' || q === "'") {
      const end = quoteEnd(line, i);
      const raw = end < 0 ? '' : line.slice(i + 1, end);
      // Escapes inside a quoted key: never one of the keys looked up; `yaml` alone would decode them.
      if (end >= 0 && !raw.includes('\\') && !raw.includes("''") && /^\s*:(?:\s|$)/.test(line.slice(end + 1)))
        k = raw;
    } else {
      // The first `:` that ends a key, found by a scan (a backtracking regex is quadratic on long lines).
      let colon = line.indexOf(':', i);
      while (colon !== -1 && !isIndicatorEnd(line, colon + 1)) colon = line.indexOf(':', colon + 1);
      let end = colon;
      while (end > i && (line[end - 1] === ' ' || line[end - 1] === '\t')) end--;
      if (colon !== -1) k = line.slice(i, end);
    }
    if (k === key) found = n + 1;
  }
  return found;
}
