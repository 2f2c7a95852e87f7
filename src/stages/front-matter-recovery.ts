/**
 * Lenient recovery of SKILL.md files whose authors broke the front matter in a few common, unambiguous ways.
 * Every function here only proposes a repair; `parseSkill` decides whether to use it and always records a
 * `W_RECOVERED_*` warning when it does, so nothing is changed silently.
 */

/** `key: value` on one line (any indent), with the key plain and the value starting with a plain character. */
const KEY_VALUE_RE = /^(\s*)([A-Za-z0-9_][\w.-]*)[ \t]*:[ \t]+(\S.*)$/;
/** Characters a YAML value starts with when it is not a plain scalar (quoted, block, flow, anchor, tag …). */
const NOT_PLAIN_RE = /^['"|>[{&*!%@`#]/;
/** A `: ` inside a value (or a `:` at its end), which makes YAML read a nested key. */
const INNER_COLON_RE = /:(?:[ \t]|$)/;

/** One value re-quoted by {@link quoteUnquotedValues}. */
export interface QuotedLine {
  /** 0-based line in the YAML text. */
  readonly line: number;
  readonly key: string;
}

/**
 * Case (a): quotes every single-line plain value that contains `: ` (the classic `description: Use it for X: Y`),
 * as a JSON string, which is a valid YAML double-quoted scalar. The whole rest of the line is the value, so a
 * ` #` in it stays text instead of starting a comment. A value followed by a more-indented line (a multi-line
 * scalar) is left alone: that is not a one-line fault. Returns undefined when no line qualifies.
 */
export function quoteUnquotedValues(yamlText: string): { text: string; quoted: QuotedLine[] } | undefined {
  const lines = yamlText.split('\n');
  const quoted: QuotedLine[] = [];
  // Indent of the key whose value is a block scalar (`|`, `>`): its more-indented lines are text, never touched.
  let blockIndent: number | undefined;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? '';
    if (blockIndent !== undefined) {
      if (line.trim() === '' || indentOf(line) > blockIndent) continue;
      blockIndent = undefined;
    }
    const m = KEY_VALUE_RE.exec(line);
    if (!m) continue;
    const [, indent = '', key = '', rawValue = ''] = m;
    const value = rawValue.trimEnd();
    if (/^[|>]/.test(value)) blockIndent = indent.length;
    if (NOT_PLAIN_RE.test(value) || !INNER_COLON_RE.test(value)) continue;
    const next = lines.slice(i + 1).find((l) => l.trim() !== '');
    if (next !== undefined && indentOf(next) > indent.length && !KEY_VALUE_RE.test(next)) continue;
    lines[i] = `${indent}${key}: ${JSON.stringify(value)}`;
    quoted.push({ line: i, key });
  }
  return quoted.length > 0 ? { text: lines.join('\n'), quoted } : undefined;
}

/**
 * Case (c): a front matter opened with `---` and never closed. The key lines are the run of `key: value`
 * lines (and their indented continuations) right after the opening line, up to the first blank or other line.
 * Returns the 0-based index of the first line after them, or undefined when there is no key line at all.
 */
export function unclosedKeyLinesEnd(lines: readonly string[]): number | undefined {
  let end = 1;
  while (end < lines.length) {
    const line = lines[end] ?? '';
    if (line.trim() === '') break;
    const isKey = /^[A-Za-z0-9_][\w.-]*[ \t]*:(?:[ \t]|$)/.test(line);
    const isContinuation = end > 1 && /^[ \t]+\S/.test(line);
    if (!isKey && !isContinuation) break;
    end++;
  }
  return end > 1 ? end : undefined;
}

/**
 * Case (b): a file with no front matter whose first content line is an H1 title (`# Title`). Returns the
 * title and the first paragraph after it (see {@link firstParagraph}), or undefined when either is missing.
 */
export function titleAndParagraph(
  lines: readonly string[],
): { title: string; paragraph: string; titleLine: number } | undefined {
  const first = lines.findIndex((l) => l.trim() !== '');
  const m = /^#[ \t]+(.+?)[ \t#]*$/.exec(lines[first] ?? '');
  if (first < 0 || !m?.[1]) return undefined;
  const paragraph = firstParagraph(lines.slice(first + 1));
  return paragraph === undefined ? undefined : { title: m[1], paragraph, titleLine: first + 1 };
}

/**
 * The first prose paragraph of Markdown lines, whitespace collapsed: headings, rules, fenced code, tables,
 * HTML and link/image-only lines are skipped, and so is a block of `**Key**: value` pseudo-fields (a
 * paragraph of only those says nothing about what the skill does). Blockquote markers are dropped. A list is
 * not prose: undefined when there is no paragraph.
 */
export function firstParagraph(lines: readonly string[]): string | undefined {
  let fence: string | undefined;
  let current: string[] = [];
  const flush = (): string | undefined => {
    const block = current;
    current = [];
    if (block.length === 0) return undefined;
    const pseudo = block.every((l) => PSEUDO_FIELD_LINE_RE.test(l));
    // One `Note: …` line is prose; several `Key: value` lines, or a bold `**Key**:`, are fields.
    if (pseudo && (block.length > 1 || /^[*_]/.test(block[0] ?? ''))) return undefined;
    const text = block.join(' ').replace(/\s+/g, ' ').trim();
    return text === '' ? undefined : text;
  };
  for (const raw of lines) {
    const trimmed = raw.trim();
    const fenceMark = /^(`{3,}|~{3,})/.exec(trimmed)?.[1];
    if (fence !== undefined) {
      if (fenceMark && fenceMark[0] === fence[0] && fenceMark.length >= fence.length) fence = undefined;
      continue;
    }
    if (fenceMark) {
      const done = flush();
      if (done) return done;
      fence = fenceMark;
      continue;
    }
    const text = trimmed.replace(/^(?:>[ \t]?)+/, '').trim();
    if (text === '' || SKIPPED_LINE_RE.test(text) || (current.length === 0 && LIST_ITEM_RE.test(text))) {
      const done = flush();
      if (done) return done;
      continue;
    }
    current.push(text);
  }
  return flush();
}

/** Lines that are never prose: headings, rules, tables, HTML, link/image-only lines. */
const SKIPPED_LINE_RE =
  /^(?:#{1,6}(?:\s|$)|[-*_](?:\s*[-*_]){2,}$|\||<|!?\[[^\]]*\]\([^)]*\)(?:\s*!?\[[^\]]*\]\([^)]*\))*$)/;
const LIST_ITEM_RE = /^(?:[-*+]|\d+[.)])\s/;
/** `**Name**: x`, `Name: x`, `**Description:** y`: a pseudo front matter field, not prose. */
const PSEUDO_FIELD_LINE_RE = /^(?:[*_]{1,2})?[\p{L}\p{N} _-]{1,40}(?:[*_]{1,2})?\s*:(?:[*_]{1,2})?(?:\s|$)/u;

function indentOf(line: string): number {
  return /^[ \t]*/.exec(line)?.[0].length ?? 0;
}
