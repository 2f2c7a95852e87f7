import path from 'node:path';
import { isMap, isScalar, isSeq, LineCounter, parseDocument } from 'yaml';
import type { Document, YAMLError } from 'yaml';
import { ERROR_CODES, WARNING_CODES } from '../shared/errors.js';
import type { ErrorCode, WarningCode } from '../shared/errors.js';
import {
  allowedToolsSchema,
  charLength,
  descriptionSchema,
  licenseSchema,
  isSpecName,
  MAX_COMPATIBILITY_LENGTH,
  MAX_DESCRIPTION_LENGTH,
  MAX_NAME_LENGTH,
  metadataSchema,
} from '../shared/front-matter.js';
import {
  firstParagraph,
  quoteUnquotedValues,
  titleAndParagraph,
  unclosedKeyLinesEnd,
} from './front-matter-recovery.js';
import type { QuotedLine } from './front-matter-recovery.js';
import { fastFrontMatter } from './front-matter-fast-read.js';
import type { SkillDoc } from '../shared/skill-doc.js';

/** Something about an indexed skill that breaks the Agent Skills rules; the message is for a person. */
export interface SkillWarning {
  readonly code: WarningCode;
  readonly message: string;
}

/** A skill that passed validation: what gets embedded and written. Plain data only. */
export interface ParsedSkill {
  readonly id: string;
  readonly sourceId: string;
  readonly path: string;
  /** `name` as written, or the folder's name when it is missing (with a `MISSING_NAME` warning). */
  readonly name: string;
  /** `description`, surrounding whitespace trimmed. */
  readonly description: string;
  readonly license: string | null;
  /** `allowed-tools` as a list (a string is split on commas/whitespace outside parentheses). */
  readonly allowedTools: string[] | null;
  readonly metadata: Record<string, unknown> | null;
  /** Every front matter key, JSON-safe (no Dates, Maps, non-finite numbers …). */
  readonly frontMatter: Record<string, unknown>;
  /**
   * SKILL.md after its front matter (leading blank lines dropped), then each sibling `.md` file appended
   * under a `\n\n<!-- file: x.md -->\n` marker, in the SkillDoc's order: one searchable text per skill.
   */
  readonly body: string;
  readonly contentHash: string;
}

/** `ok: false` is a rejection: the skill is not indexed and `code`/`message` become an `index_errors` row. */
export type ParseResult =
  | { ok: true; skill: ParsedSkill; warnings: SkillWarning[] }
  | { ok: false; code: ErrorCode; message: string; line?: number };

type Rejection = Extract<ParseResult, { ok: false }>;

const SKILL_FILE = 'SKILL.md';
const OPEN_RE = /^---[ \t]*$/;
const CLOSE_RE = /^(?:---|\.\.\.)[ \t]*$/;
/** Markdown imitations of front matter: `**Name**: x`, `### Name: x`, `**Description:** y`. */
const PSEUDO_FIELD_RE = /^\s*(?:#{1,6}\s*)?(?:[*_]{1,2})?\s*(name|description)\s*(?:[*_]{1,2})?\s*:/i;
const USAGE = "it must start with a line '---', then name/description, then '---'";

/**
 * Parses and validates a crawled skill: splits the YAML front matter off SKILL.md, parses it (YAML 1.2 core
 * schema, duplicate keys allowed, last one wins), and checks it against the Agent Skills rules.
 *
 * Recovered, always with a `W_RECOVERED_*` warning (never silently): YAML whose only fault is an unquoted `: `
 * in one-line values (re-parsed with them quoted), no front matter but an H1 title and a paragraph (name from
 * the folder, description from the paragraph), a front matter never closed (its leading key lines are read),
 * and a missing or empty description when the body has a paragraph.
 *
 * Rejected (`ok: false`) when no recovery applies: no front matter or an unclosed one (`NO_FRONT_MATTER`),
 * YAML errors (`INVALID_YAML`, with the SKILL.md line and a hint for the classic unquoted `: `), front matter
 * that is not a mapping (`FRONT_MATTER_NOT_MAPPING`), no usable `description` (`MISSING_DESCRIPTION`).
 *
 * Indexed with warnings: every other rule of the spec (docs/errors.md): missing or malformed `name`, a name
 * that differs from the folder, over-long description or compatibility, fields of the wrong type, non-string
 * metadata values, duplicate keys.
 *
 * Pure and synchronous: it never throws on bad input, so it can run in any stage or worker. Its rules are
 * versioned by {@link PARSE_RULES_VERSION}.
 */
export function parseSkill(doc: SkillDoc): ParseResult {
  const label = fileLabel(doc);
  const main = doc.files.find((f) => f.path === SKILL_FILE);
  if (!main) {
    return reject(ERROR_CODES.READ_FAILED, `${label}: the skill has no ${SKILL_FILE} file`);
  }
  // Sources already normalise; doing it again is cheap and keeps line numbers right for any source.
  const text = main.text.replace(/^\uFEFF/, '').replace(/\r\n/g, '\n');
  // Every line, split only when a rule needs more than the front matter (no or an unclosed '---' block, a YAML
  // error's context): the common skill's body is sliced off whole, not split and joined again.
  let allLines: string[] | undefined;
  const lines = (): string[] => (allLines ??= text.split('\n'));
  const warnings: SkillWarning[] = [];
  const warn = (code: WarningCode, message: string): void => {
    warnings.push({ code, message });
  };

  const firstEnd = text.indexOf('\n');
  if (!OPEN_RE.test(firstEnd === -1 ? text : text.slice(0, firstEnd))) {
    return withoutFrontMatter(doc, label, text, lines(), warnings);
  }
  const closed = closingLine(text);
  const block = closed ?? frontMatterEnd(lines(), label, warn);
  if ('ok' in block) return block;
  const { close, bodyStart } = block;

  // Offsets inside the YAML text are on SKILL.md line (yamlLine + 1): line 1 of the file is the opening '---'.
  const parsed = parseFrontMatter(
    closed ? text.slice(firstEnd + 1, closed.closeOffset - 1) : lines().slice(1, close).join('\n'),
  );
  if (!parsed.ok) {
    const first = parsed.errors[0] as YAMLError;
    const line = parsed.lineCounter.linePos(first.pos[0]).line + 1;
    return invalidYaml(label, parsed.errors, first, lines(), line);
  }
  const { read, quoted } = parsed;
  const fileLine = (yamlLine: number): number => yamlLine + 1;
  if (quoted.length > 0) {
    warn(
      WARNING_CODES.RECOVERED_UNQUOTED_VALUE,
      `${label}: invalid YAML front matter, read with ${quoted.map((q) => `'${q.key}' (line ${q.line + 2})`).join(', ')} quoted: a value containing ': ' must be in quotes`,
    );
  }

  let data: unknown;
  try {
    // yaml's toJS enforces maxAliasCount (default 100), which stops "billion laughs" alias bombs.
    data = read.data();
  } catch (err) {
    return reject(
      ERROR_CODES.INVALID_YAML,
      `${label}: invalid YAML front matter: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  if (data === null || data === undefined) data = {}; // empty block or comments only
  if (typeof data !== 'object' || Array.isArray(data)) {
    const kind = Array.isArray(data) ? 'a list' : `a single ${typeof data} value`;
    return reject(
      ERROR_CODES.FRONT_MATTER_NOT_MAPPING,
      `${label} line 2: the front matter is ${kind}, not key/value pairs: write it as lines like 'name: my-skill' and 'description: …'`,
      2,
    );
  }
  const frontMatter = toJsonSafe(data) as Record<string, unknown>;
  const keyLine = (key: string): number | undefined => {
    const line = read.keyLine(key);
    return line === undefined ? undefined : fileLine(line);
  };
  const at = (key: string): string => {
    const line = keyLine(key);
    return line === undefined ? label : `${label} line ${line}`;
  };

  let body = text.slice(closed ? closed.bodyOffset : lineOffset(text, bodyStart)).replace(/^\n+/, '');

  const descriptionText = resolveDescription(frontMatter['description'], body, at, keyLine, warn);
  if (typeof descriptionText !== 'string') return descriptionText;

  const name = resolveName(doc, frontMatter['name'], at('name'), warn);

  if (charLength(descriptionText) > MAX_DESCRIPTION_LENGTH) {
    warn(
      WARNING_CODES.LONG_DESCRIPTION,
      `${at('description')}: 'description' is ${charLength(descriptionText)} characters, over the ${MAX_DESCRIPTION_LENGTH} the spec allows; agents may truncate it`,
    );
  }

  const license = optionalField(frontMatter, 'license', licenseSchema, 'text', at, warn);
  const allowedTools = optionalField(
    frontMatter,
    'allowed-tools',
    allowedToolsSchema,
    "a space- or comma-separated string or a list of tool names (e.g. 'Read Grep Bash(git:*)')",
    at,
    warn,
  );
  const metadata = optionalField(frontMatter, 'metadata', metadataSchema, 'a key/value mapping', at, warn);
  checkSpecRules(frontMatter, metadata, read, fileLine, at, warn);

  for (const file of doc.files) {
    if (file.path === SKILL_FILE) continue;
    body += `\n\n<!-- file: ${file.path} -->\n${file.text}`;
  }
  return accept(doc, {
    name,
    description: descriptionText,
    license,
    allowedTools,
    metadata,
    frontMatter,
    body,
    warnings,
  });
}

/**
 * The line closing a front matter opened on line 0 (`---` or `...`), found line by line from the top: the same
 * line as `lines.findIndex((l, i) => i > 0 && CLOSE_RE.test(l))`, without splitting the body. Its index, where it
 * starts and where the line after it starts (past the end when it is the last line); undefined when none closes.
 */
function closingLine(
  text: string,
): { close: number; bodyStart: number; closeOffset: number; bodyOffset: number } | undefined {
  let start = text.indexOf('\n') + 1;
  if (start === 0) return undefined;
  for (let i = 1; ; i++) {
    const nl = text.indexOf('\n', start);
    const end = nl === -1 ? text.length : nl;
    if (CLOSE_RE.test(text.slice(start, end)))
      return { close: i, bodyStart: i + 1, closeOffset: start, bodyOffset: end + 1 };
    if (nl === -1) return undefined;
    start = nl + 1;
  }
}

/** Where line `n` (0-based) of text starts: past the end when the text has fewer lines, as `lines.slice(n)` is empty. */
function lineOffset(text: string, n: number): number {
  let offset = 0;
  for (let i = 0; i < n; i++) {
    const nl = text.indexOf('\n', offset);
    if (nl === -1) return text.length + 1;
    offset = nl + 1;
  }
  return offset;
}

/** A SKILL.md without front matter: recovered from its H1 title and first paragraph, or rejected with a hint. */
function withoutFrontMatter(
  doc: SkillDoc,
  label: string,
  text: string,
  lines: readonly string[],
  warnings: SkillWarning[],
): ParseResult {
  const md = titleAndParagraph(lines);
  if (!md) return noFrontMatter(label, lines);
  const name = folderName(doc);
  warnings.push({
    code: WARNING_CODES.RECOVERED_NO_FRONT_MATTER,
    message: `${label} has no YAML front matter: indexed under the folder name "${name}", described by the first paragraph after the title on line ${md.titleLine} (add '---', 'name: ${name}', 'description: …', '---' at the top)`,
  });
  if (charLength(md.paragraph) > MAX_DESCRIPTION_LENGTH) {
    warnings.push({
      code: WARNING_CODES.LONG_DESCRIPTION,
      message: `${label}: the paragraph used as description is ${charLength(md.paragraph)} characters, over the ${MAX_DESCRIPTION_LENGTH} the spec allows`,
    });
  }
  return accept(doc, { name, description: md.paragraph, frontMatter: {}, body: text, warnings });
}

/**
 * Where the front matter ends (its closing line) and where the body starts. One never closed is read up to
 * the end of its leading key lines when those parse (with a warning); otherwise the skill is rejected.
 */
function frontMatterEnd(
  lines: readonly string[],
  label: string,
  warn: (code: WarningCode, message: string) => void,
): { close: number; bodyStart: number } | Rejection {
  const close = lines.findIndex((l, i) => i > 0 && CLOSE_RE.test(l));
  if (close >= 0) return { close, bodyStart: close + 1 };
  const blank = lines.findIndex((l, i) => i > 0 && l.trim() === '');
  const where = blank > 0 ? ` (the first blank line is line ${blank + 1})` : '';
  const unclosed = reject(
    ERROR_CODES.NO_FRONT_MATTER,
    `${label} line 1: the front matter opened with '---' is never closed: add a line '---' after the last field, before the Markdown body${where}`,
    1,
  );
  const end = unclosedKeyLinesEnd(lines);
  if (end === undefined) return unclosed;
  const parsed = parseFrontMatter(lines.slice(1, end).join('\n'));
  if (!parsed.ok) return unclosed;
  warn(
    WARNING_CODES.RECOVERED_UNCLOSED_FRONT_MATTER,
    `${label} line 1: the front matter opened with '---' is never closed; read lines 2–${end} as front matter and the rest as the body (add a line '---' after line ${end})`,
  );
  return { close: end, bodyStart: end };
}

/**
 * The description: the field when it is text; else, when it is missing or empty (or not text), the body's
 * first paragraph with a warning; else a rejection.
 */
function resolveDescription(
  raw: unknown,
  body: string,
  at: (key: string) => string,
  keyLine: (key: string) => number | undefined,
  warn: (code: WarningCode, message: string) => void,
): string | Rejection {
  const description = descriptionSchema.safeParse(raw);
  if (description.success) return description.data;
  const empty = raw === undefined || raw === null || typeof raw === 'string';
  const paragraph = empty ? firstParagraph(body.split('\n')) : undefined;
  const why =
    raw === undefined
      ? `has no 'description'`
      : empty
        ? `has an empty 'description'`
        : `has a 'description' that is ${kindOf(raw)}, not text (quote it)`;
  if (paragraph === undefined) {
    return reject(
      ERROR_CODES.MISSING_DESCRIPTION,
      `${at('description')}: the front matter ${why}${empty ? ' and the body has no paragraph to use instead' : ''}: add 'description: <what the skill does and when to use it>'`,
      keyLine('description'),
    );
  }
  warn(
    WARNING_CODES.RECOVERED_DESCRIPTION,
    `${at('description')}: the front matter ${why}; the body's first paragraph is used instead (add 'description: <what the skill does and when to use it>')`,
  );
  return paragraph;
}

/** A front matter's YAML as read: its data, and the lines (1-based, in the YAML text) of keys. */
interface FrontMatterRead {
  /** The document as JavaScript (may throw: yaml's alias limit). */
  data(): unknown;
  /** Line of the last top-level key `key` (the one whose value wins), if the root is a mapping. */
  keyLine(key: string): number | undefined;
  /** Keys repeated within one mapping, anywhere in the document, with the line of each repeat. */
  duplicateKeys(): { key: string; line?: number }[];
}

/**
 * The YAML of a front matter, parsed as the spec reads it; with unquoted `: ` values quoted when that alone fixes
 * it. Plain front matter is read by the fast path (`front-matter-fast-read.ts`: the same result, a fraction of
 * the cost); everything else, and every error, by `yaml`.
 */
function parseFrontMatter(
  yamlText: string,
):
  | { ok: true; read: FrontMatterRead; quoted: QuotedLine[] }
  | { ok: false; errors: readonly YAMLError[]; lineCounter: LineCounter } {
  const fast = fastFrontMatter(yamlText);
  if (fast) {
    // js-yaml rejects duplicate keys, so a fast reading has none.
    return {
      ok: true,
      read: { data: () => fast.data, keyLine: fast.keyLine, duplicateKeys: () => [] },
      quoted: [],
    };
  }
  const parse = (source: string): { yamlDoc: Document; lineCounter: LineCounter } => {
    const lineCounter = new LineCounter();
    const yamlDoc = parseDocument(source, {
      version: '1.2',
      schema: 'core',
      uniqueKeys: false,
      prettyErrors: false,
      lineCounter,
    });
    return { yamlDoc, lineCounter };
  };
  const readOf = ({
    yamlDoc,
    lineCounter,
  }: {
    yamlDoc: Document;
    lineCounter: LineCounter;
  }): FrontMatterRead => {
    const line = (offset: number): number => lineCounter.linePos(offset).line;
    return {
      data: () => yamlDoc.toJS(),
      keyLine: (key) => {
        const offset = keyOffset(yamlDoc, key);
        return offset === undefined ? undefined : line(offset);
      },
      duplicateKeys: () =>
        duplicateKeys(yamlDoc.contents).map((d) =>
          d.range === undefined ? { key: d.key } : { key: d.key, line: line(d.range) },
        ),
    };
  };
  const first = parse(yamlText);
  if (first.yamlDoc.errors.length === 0) return { ok: true, read: readOf(first), quoted: [] };
  const repair = quoteUnquotedValues(yamlText);
  if (repair) {
    const second = parse(repair.text);
    if (second.yamlDoc.errors.length === 0) return { ok: true, read: readOf(second), quoted: repair.quoted };
  }
  return { ok: false, errors: first.yamlDoc.errors, lineCounter: first.lineCounter };
}

/** The spec rules beyond what each field's own type says: folder match, lengths, metadata values, duplicates. */
function checkSpecRules(
  frontMatter: Record<string, unknown>,
  metadata: Record<string, unknown> | null,
  read: FrontMatterRead,
  fileLine: (yamlLine: number) => number,
  at: (key: string) => string,
  warn: (code: WarningCode, message: string) => void,
): void {
  const compatibility = optionalField(frontMatter, 'compatibility', licenseSchema, 'text', at, warn);
  if (compatibility !== null && charLength(compatibility) > MAX_COMPATIBILITY_LENGTH) {
    warn(
      WARNING_CODES.LONG_COMPATIBILITY,
      `${at('compatibility')}: 'compatibility' is ${charLength(compatibility)} characters, over the ${MAX_COMPATIBILITY_LENGTH} the spec allows`,
    );
  }
  if (metadata) {
    const bad = Object.entries(metadata).filter(([, v]) => typeof v !== 'string');
    if (bad.length > 0) {
      const shown = bad
        .slice(0, 5)
        .map(([k, v]) => `'${k}' (${kindOf(v)})`)
        .join(', ');
      warn(
        WARNING_CODES.METADATA_NOT_STRING,
        `${at('metadata')}: 'metadata' should map keys to strings, but ${shown}${bad.length > 5 ? ` and ${bad.length - 5} more` : ''} ${bad.length === 1 ? 'is' : 'are'} not; kept as written`,
      );
    }
  }
  for (const dup of read.duplicateKeys()) {
    warn(
      WARNING_CODES.DUPLICATE_KEY,
      `${dup.line !== undefined ? `line ${fileLine(dup.line)}` : 'front matter'}: key '${dup.key}' appears more than once in the same mapping; the last one is used`,
    );
  }
}

/** Keys repeated within one mapping, anywhere in the document (with the offset of each repeat). */
function duplicateKeys(node: unknown, out: { key: string; range?: number }[] = []): typeof out {
  if (isMap(node)) {
    const seen = new Set<string>();
    for (const pair of node.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : undefined;
      if (key !== undefined) {
        if (seen.has(key)) {
          const range = isScalar(pair.key) ? pair.key.range?.[0] : undefined;
          out.push(range === undefined ? { key } : { key, range });
        }
        seen.add(key);
      }
      duplicateKeys(pair.value, out);
    }
  } else if (isSeq(node)) {
    for (const item of node.items) duplicateKeys(item, out);
  }
  return out;
}

/** A parsed skill from its fields; optional fields default to null. */
function accept(
  doc: SkillDoc,
  f: {
    name: string;
    description: string;
    license?: string | null;
    allowedTools?: string[] | null;
    metadata?: Record<string, unknown> | null;
    frontMatter: Record<string, unknown>;
    body: string;
    warnings: SkillWarning[];
  },
): ParseResult {
  return {
    ok: true,
    skill: {
      id: doc.id,
      sourceId: doc.sourceId,
      path: doc.path,
      name: f.name,
      description: f.description,
      license: f.license ?? null,
      allowedTools: f.allowedTools ?? null,
      metadata: f.metadata ?? null,
      frontMatter: f.frontMatter,
      body: f.body,
      contentHash: doc.contentHash,
    },
    warnings: f.warnings,
  };
}

function resolveName(
  doc: SkillDoc,
  raw: unknown,
  where: string,
  warn: (code: WarningCode, message: string) => void,
): string {
  let name: string | undefined;
  if (typeof raw === 'string' && raw.trim() !== '') {
    name = raw;
  } else if (typeof raw === 'number' || typeof raw === 'boolean') {
    name = String(raw);
    warn(
      WARNING_CODES.BAD_FIELD_TYPE,
      `${where}: 'name' is a ${typeof raw}, not text; indexed as "${name}" (quote it: name: "${name}")`,
    );
  }
  const folder = folderName(doc);
  if (name === undefined) {
    const what =
      raw === undefined ? 'no' : raw === null || typeof raw === 'string' ? 'an empty' : 'an unusable';
    warn(
      WARNING_CODES.MISSING_NAME,
      `${where}: the front matter has ${what} 'name'; indexed under the folder name "${folder}" (add 'name: ${folder}')`,
    );
    return folder;
  }
  const problems: string[] = [];
  if (charLength(name) > MAX_NAME_LENGTH)
    problems.push(`is ${charLength(name)} characters (max ${MAX_NAME_LENGTH})`);
  if (!isSpecName(name)) {
    problems.push('must be lowercase letters, digits and single hyphens (e.g. "pdf-tools")');
  }
  if (problems.length > 0) {
    warn(
      WARNING_CODES.INVALID_NAME,
      `${where}: 'name' ${JSON.stringify(name)} ${problems.join(' and ')}; kept as written`,
    );
  }
  // The spec compares after NFKC normalisation (so a full-width or composed form still matches).
  if (name.trim().normalize('NFKC') !== folder.normalize('NFKC')) {
    warn(
      WARNING_CODES.NAME_MISMATCH,
      `${where}: 'name' ${JSON.stringify(name)} differs from its folder name "${folder}"; the spec wants them equal (rename one)`,
    );
  }
  return name;
}

/** Validates an optional field; absent or null → null; wrong type → null plus a BAD_FIELD_TYPE warning. */
function optionalField<T>(
  frontMatter: Record<string, unknown>,
  key: string,
  schema: { safeParse(v: unknown): { success: true; data: T } | { success: false } },
  expected: string,
  at: (key: string) => string,
  warn: (code: WarningCode, message: string) => void,
): T | null {
  const raw = frontMatter[key];
  if (raw === undefined || raw === null) return null;
  const result = schema.safeParse(raw);
  if (result.success) return result.data;
  warn(
    WARNING_CODES.BAD_FIELD_TYPE,
    `${at(key)}: '${key}' should be ${expected}, but is ${kindOf(raw)}; ignored (kept in the front matter JSON)`,
  );
  return null;
}

function noFrontMatter(label: string, lines: readonly string[]): Rejection {
  let hint = '';
  const firstContent = lines.findIndex((l) => l.trim() !== '');
  const pseudo = lines.slice(0, 40).findIndex((l) => PSEUDO_FIELD_RE.test(l));
  if (firstContent > 0 && OPEN_RE.test(lines[firstContent]?.trim() ?? '')) {
    hint = `; the '---' on line ${firstContent + 1} must be the very first line of the file`;
  } else if (pseudo >= 0) {
    const field = PSEUDO_FIELD_RE.exec(lines[pseudo] ?? '')?.[1]?.toLowerCase() ?? 'name';
    hint = `; line ${pseudo + 1} looks like a '${field}:' field, but fields only count in a '---' block that starts on line 1: move them there as plain 'key: value' lines`;
  }
  return reject(ERROR_CODES.NO_FRONT_MATTER, `${label} has no YAML front matter: ${USAGE}${hint}`);
}

function invalidYaml(
  label: string,
  errors: readonly YAMLError[],
  first: YAMLError,
  lines: readonly string[],
  line: number,
): Rejection {
  const more =
    errors.length > 1 ? ` (and ${errors.length - 1} more YAML error${errors.length > 2 ? 's' : ''})` : '';
  return reject(
    ERROR_CODES.INVALID_YAML,
    `${label} line ${line}: invalid YAML front matter: ${first.message}${more}${colonHint(lines[line - 1] ?? '')}`,
    line,
  );
}

/**
 * The classic mistake: `description: Use it for X: Y` — a plain (unquoted) value containing `: `, which
 * YAML reads as a nested key. Returns a hint naming the key and the column of that `: `, or ''.
 */
function colonHint(line: string): string {
  const m = /^(\s*(?:-\s+)?)([^\s#'"][^:]*?):[ \t]+(\S.*)$/.exec(line);
  if (!m) return '';
  const [, indent = '', key = '', value = ''] = m;
  if (/^['"|>[{&*!]/.test(value)) return '';
  const inner = value.search(/:(?:[ \t]|$)/);
  if (inner < 0) return '';
  const valueStart = line.length - value.length;
  const column = valueStart + inner + 1;
  const keyText = key.trim();
  return `. Hint: the value of '${keyText}' contains ': ' (column ${column}), which YAML reads as a nested key; quote the value: ${indent}${keyText}: "${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').slice(0, 40)}${value.length > 40 ? '…' : ''}"`;
}

/** Offset of the last top-level key `key` (the one whose value wins), if the contents are a mapping. */
function keyOffset(doc: Document, key: string): number | undefined {
  const contents = doc.contents;
  if (!isMap(contents)) return undefined;
  let offset: number | undefined;
  for (const pair of contents.items) {
    if (isScalar(pair.key) && String(pair.key.value) === key && pair.key.range) offset = pair.key.range[0];
  }
  return offset;
}

/** Turns what yaml's toJS can produce into values JSON.stringify keeps exactly. */
function toJsonSafe(value: unknown): unknown {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : String(value);
  if (typeof value === 'bigint')
    return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString();
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  if (Array.isArray(value)) return value.map(toJsonSafe);
  if (value instanceof Set) return [...value].map(toJsonSafe);
  if (value instanceof Map) {
    return Object.fromEntries([...value].map(([k, v]) => [String(k), toJsonSafe(v)]));
  }
  if (typeof value === 'object') {
    // fromEntries defines own properties, so a `__proto__` key stays data and never touches the prototype.
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toJsonSafe(v)]));
  }
  return null; // undefined, functions, symbols: not produced by YAML, dropped to null
}

function kindOf(value: unknown): string {
  if (value === null) return 'empty';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  const shown = JSON.stringify(value);
  return `a ${typeof value} (${shown.length > 40 ? `${shown.slice(0, 39)}…` : shown})`;
}

function folderName(doc: SkillDoc): string {
  return doc.path === '.' ? path.posix.basename(doc.sourceId) : path.posix.basename(doc.path);
}

/** `<id>/SKILL.md`, without the `/.` of a skill at the source root. */
function fileLabel(doc: SkillDoc): string {
  return doc.path === '.' ? `${doc.sourceId}/${SKILL_FILE}` : `${doc.id}/${SKILL_FILE}`;
}

function reject(code: ErrorCode, message: string, line?: number): Rejection {
  return line === undefined ? { ok: false, code, message } : { ok: false, code, message, line };
}
