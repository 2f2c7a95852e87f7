import { createHash } from 'node:crypto';
import type { SkillWarning } from './records.js';

/**
 * Version of the rules `parseSkill` applies (recoveries, warnings). Stored with every skill row and every
 * rejection: a skill written under other rules is parsed again on the next run even when its bytes did not
 * change, so a rule change reaches every skill. Bump it whenever a change to parsing or validation could give
 * a different result for the same file. 1 = the rules before recovery and spec warnings (schema v1–v2 rows).
 */
export const PARSE_RULES_VERSION = 2;

/**
 * Whether a skill breaks no rule of the Agent Skills spec (the `spec_valid` column): every warning code marks
 * a broken rule or a recovery, so a skill is spec-valid exactly when it has no warning. Unknown front matter
 * keys are kept and do not count (the indexer keeps them on purpose).
 */
export function isSpecValid(warnings: readonly SkillWarning[]): boolean {
  return warnings.length === 0;
}

/** Fewer headings and code blocks than this, and the skeleton says too little to tell two skills apart. */
const MIN_SKELETON = 4;

/**
 * Key shared by near-identical copies of one skill (the `dup_key` column), so readers can fold them: the
 * same name (NFKC, case-folded) and the same Markdown skeleton of SKILL.md — the sequence of heading levels and
 * code blocks. The skeleton survives translation (the `docs/<lang>/` copies of a skill) and small edits, yet
 * differs between two unrelated skills that share a common name like `setup`. A body with too little
 * structure falls back to the name plus the whitespace- and case-folded description.
 */
export function dupKey(skill: { name: string; description: string; body: string }): string {
  const name = skill.name.normalize('NFKC').trim().toLowerCase();
  const skeleton = markdownSkeleton(skill.body);
  const basis =
    skeleton.length >= MIN_SKELETON
      ? `s\0${name}\0${skeleton.join(',')}`
      : `d\0${name}\0${skill.description.normalize('NFKC').toLowerCase().replace(/\s+/g, ' ').trim()}`;
  return createHash('sha256').update(basis).digest('hex').slice(0, 32);
}

/**
 * Heading levels (`h2`) and code blocks (`c`) of the SKILL.md part of a body, in order: a line opening or closing
 * a fence is optional whitespace then ``` or ~~~ (3 or more), a heading is 1–6 `#` then whitespace.
 *
 * Lines are walked with indexOf rather than split, and only a line that can be a fence or a heading becomes a
 * string for the regexes: splitting every line of the corpus's 1,466 bodies and testing each cost ~60 ms of one
 * index's main thread.
 */
export function markdownSkeleton(body: string): string[] {
  const cut = body.indexOf('\n\n<!-- file: ');
  const main = cut === -1 ? body : body.slice(0, cut);
  const out: string[] = [];
  let fence: string | undefined;
  for (let start = 0; start <= main.length;) {
    let end = main.indexOf('\n', start);
    if (end === -1) end = main.length;
    // Only a line whose first character past spaces and tabs is ` or ~, or that starts with #, can open or close a
    // fence or be a heading. Blank lines, indented text and lines of printable ASCII are decided here; any other
    // start (\r, Unicode whitespace, non-ASCII) goes the regex way, whose \s is the rule.
    let i = start;
    while (i < end && (main.charCodeAt(i) === 32 || main.charCodeAt(i) === 9)) i++;
    const c = main.charCodeAt(i);
    const maybe = i < end && (!(c > 32 && c < 127) || c === 96 || c === 126 || (c === 35 && i === start));
    if (maybe) {
      const line = main.slice(start, end);
      const mark = /^\s*(`{3,}|~{3,})/.exec(line)?.[1];
      if (fence !== undefined) {
        if (mark && mark[0] === fence[0] && mark.length >= fence.length) fence = undefined;
      } else if (mark) {
        fence = mark;
        out.push('c');
      } else {
        const heading = /^(#{1,6})\s/.exec(line);
        if (heading?.[1]) out.push(`h${heading[1].length}`);
      }
    }
    start = end + 1;
  }
  return out;
}
