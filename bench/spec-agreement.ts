/**
 * How far the indexer's verdicts agree with the Agent Skills reference validator (npm `skills-ref`), rule by
 * rule, over a corpus. For every skill folder, `skills-ref`'s `validate()` gives a list of messages and
 * `parseSkill` gives a rejection or warnings; both are mapped onto the spec's rules and compared.
 *
 *   npm run spec-agreement                  # the shared corpus
 *   npm run spec-agreement -- --corpus DIR  # any folder of skills
 *   npm run spec-agreement -- --list RULE   # also print the skills where the two disagree on RULE
 *
 * Rules on the front matter's fields are compared only where the reference could read the front matter (it
 * stops at a YAML error; the indexer recovers some of those and then checks the fields too). Unknown keys are
 * reported apart: the reference rejects them, the indexer keeps them on purpose. `metadata` values that are not
 * strings are checked by the indexer only (the reference turns them into strings).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { validate } from 'skills-ref';
import { crawlDir } from '../src/producer/dir-source.js';
import { parseSkill, type ParseResult } from '../src/stages/parse-skill.js';
import { ERROR_CODES, WARNING_CODES, type WarningCode } from '../src/shared/errors.js';
import { table } from './markdown.js';
import { defaultCorpusDir } from './corpus-texts.js';

/** The spec's rules both validators check, in report order: the front matter's shape, then one field each. */
const RULES = [
  'front matter present and closed',
  'YAML syntax',
  'no duplicate keys',
  'front matter is a mapping',
  'name present',
  'name format and length',
  'name matches folder',
  'description present',
  'description ≤ 1024',
  'compatibility text ≤ 500',
] as const;
type Rule = (typeof RULES)[number];

/** Rules about one field (from 'name present' on): compared only where the reference read the front matter. */
const FIELD_RULES = new Set<Rule>(RULES.slice(RULES.indexOf('name present')));

/** The reference's messages (skills-ref 0.1.5 src/validator.ts, src/parser.ts) by rule. */
function referenceRules(messages: readonly string[]): {
  rules: Set<Rule>;
  parsed: boolean;
  unknownKeys: boolean;
} {
  const rules = new Set<Rule>();
  let parsed = true;
  let unknownKeys = false;
  for (const m of messages) {
    if (/must start with YAML frontmatter|not properly closed/.test(m)) {
      rules.add('front matter present and closed');
      parsed = false;
    } else if (/^Invalid YAML/.test(m)) {
      rules.add(/duplicated mapping key/.test(m) ? 'no duplicate keys' : 'YAML syntax');
      parsed = false;
    } else if (/must be a YAML mapping/.test(m)) {
      rules.add('front matter is a mapping');
      parsed = false;
    } else if (/required field in frontmatter: name|Field 'name' must be/.test(m)) rules.add('name present');
    else if (/^Directory name/.test(m)) rules.add('name matches folder');
    else if (/^Skill name|Skill name cannot/.test(m)) rules.add('name format and length');
    else if (/required field in frontmatter: description|Field 'description' must be/.test(m))
      rules.add('description present');
    else if (/^Description exceeds/.test(m)) rules.add('description ≤ 1024');
    else if (/^Field 'compatibility'|^Compatibility exceeds/.test(m)) rules.add('compatibility text ≤ 500');
    else if (/^Unexpected fields/.test(m)) unknownKeys = true;
    else throw new Error(`unmapped skills-ref message: ${m}`);
  }
  return { rules, parsed, unknownKeys };
}

/** The rule each warning is about (W_BAD_FIELD_TYPE: by the field its message names; see below). */
const WARNING_RULE: Partial<Record<WarningCode, Rule>> = {
  [WARNING_CODES.RECOVERED_NO_FRONT_MATTER]: 'front matter present and closed',
  [WARNING_CODES.RECOVERED_UNCLOSED_FRONT_MATTER]: 'front matter present and closed',
  [WARNING_CODES.RECOVERED_UNQUOTED_VALUE]: 'YAML syntax',
  [WARNING_CODES.DUPLICATE_KEY]: 'no duplicate keys',
  [WARNING_CODES.MISSING_NAME]: 'name present',
  [WARNING_CODES.INVALID_NAME]: 'name format and length',
  [WARNING_CODES.NAME_MISMATCH]: 'name matches folder',
  [WARNING_CODES.RECOVERED_DESCRIPTION]: 'description present',
  [WARNING_CODES.LONG_DESCRIPTION]: 'description ≤ 1024',
  [WARNING_CODES.LONG_COMPATIBILITY]: 'compatibility text ≤ 500',
};

/** The indexer's verdict by rule (a rejection or a warning flags the rule it is about). */
function indexerRules(r: ParseResult): Set<Rule> {
  const rules = new Set<Rule>();
  if (!r.ok) {
    if (r.code === ERROR_CODES.NO_FRONT_MATTER) rules.add('front matter present and closed');
    else if (r.code === ERROR_CODES.INVALID_YAML) rules.add('YAML syntax');
    else if (r.code === ERROR_CODES.FRONT_MATTER_NOT_MAPPING) rules.add('front matter is a mapping');
    else if (r.code === ERROR_CODES.MISSING_DESCRIPTION) rules.add('description present');
    return rules;
  }
  for (const w of r.warnings) {
    const rule =
      w.code === WARNING_CODES.BAD_FIELD_TYPE
        ? w.message.includes("'compatibility'")
          ? 'compatibility text ≤ 500'
          : undefined
        : WARNING_RULE[w.code];
    if (rule) rules.add(rule);
  }
  return rules;
}

const pct = (n: number, of: number): string => (of === 0 ? '–' : `${((100 * n) / of).toFixed(1)} %`);

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { corpus: { type: 'string' }, list: { type: 'string' } },
  });
  const root = resolve(values.corpus ?? defaultCorpusDir());
  if (!existsSync(root)) throw new Error(`corpus ${root} does not exist: pass --corpus DIR`);

  type Counts = {
    compared: number;
    ref: number;
    ours: number;
    both: number;
    agree: number;
    agreeNoBom: number;
  };
  const stats = new Map<Rule, Counts & { comparedNoBom: number }>(
    RULES.map((r) => [
      r,
      { compared: 0, ref: 0, ours: 0, both: 0, agree: 0, comparedNoBom: 0, agreeNoBom: 0 },
    ]),
  );
  let boms = 0;
  const disagreements = new Map<Rule, string[]>();
  let skills = 0;
  let unknownKeys = 0;
  let metadataOnlyOurs = 0;
  const whole = { agree: 0, agreeIgnoringUnknownKeys: 0, refValid: 0, oursValid: 0 };

  for await (const item of crawlDir({ root, sourceId: 'corpus' })) {
    if (!('files' in item)) continue;
    skills++;
    const messages = await validate(join(root, item.path));
    // skills-ref reads a UTF-8 BOM as text, so '---' is not at the start: it rejects such files. The indexer
    // (like most YAML front matter readers) skips the BOM. Counted apart so the column shows the rules.
    const bom = readFileSync(join(root, item.path, 'SKILL.md'))
      .subarray(0, 3)
      .equals(Buffer.from([0xef, 0xbb, 0xbf]));
    if (bom) boms++;
    const ref = referenceRules(messages);
    const result = parseSkill(item);
    const ours = indexerRules(result);
    if (ref.unknownKeys) unknownKeys++;
    if (result.ok && result.warnings.some((w) => w.code === WARNING_CODES.METADATA_NOT_STRING))
      metadataOnlyOurs++;

    for (const rule of RULES) {
      if (FIELD_RULES.has(rule) && !ref.parsed) continue;
      const s = stats.get(rule)!;
      const a = ref.rules.has(rule);
      const b = ours.has(rule);
      s.compared++;
      if (a) s.ref++;
      if (b) s.ours++;
      if (a && b) s.both++;
      if (a === b) s.agree++;
      if (!bom) {
        s.comparedNoBom++;
        if (a === b) s.agreeNoBom++;
      }
      if (a !== b)
        (disagreements.get(rule) ?? disagreements.set(rule, []).get(rule)!).push(
          `${item.path}: reference ${a ? 'flags' : 'passes'}, indexer ${b ? 'flags' : 'passes'}`,
        );
    }
    const refValid = messages.length === 0;
    const oursValid = result.ok && result.warnings.length === 0;
    if (refValid) whole.refValid++;
    if (oursValid) whole.oursValid++;
    if (refValid === oursValid) whole.agree++;
    const refValidIgnoringUnknown = ref.rules.size === 0;
    if (refValidIgnoringUnknown === oursValid) whole.agreeIgnoringUnknownKeys++;
  }

  process.stdout.write(`# Agreement with skills-ref 0.1.5 over ${skills} skills (${root})\n\n`);
  process.stdout.write(
    `${table(
      [
        'rule',
        'compared',
        'reference flags',
        'indexer flags',
        'both',
        'agreement',
        'agreement, BOM files aside',
      ],
      RULES.map((rule) => {
        const s = stats.get(rule)!;
        return [
          rule,
          String(s.compared),
          String(s.ref),
          String(s.ours),
          String(s.both),
          pct(s.agree, s.compared),
          pct(s.agreeNoBom, s.comparedNoBom),
        ];
      }),
    )}\n`,
  );
  process.stdout.write(
    `\nWhole verdict (valid = reference: no message; indexer: indexed without warning): reference ${whole.refValid}, ` +
      `indexer ${whole.oursValid}, agreement ${pct(whole.agree, skills)}; ignoring unknown keys ` +
      `${pct(whole.agreeIgnoringUnknownKeys, skills)}.\n` +
      `UTF-8 BOM files (the reference rejects them, the indexer reads them): ${boms}.\n` +
      `Unknown keys (reference rejects, the indexer keeps on purpose): ${unknownKeys} skills. ` +
      `metadata values that are not strings (indexer only, W_METADATA_NOT_STRING): ${metadataOnlyOurs} skills.\n`,
  );
  if (values.list) {
    for (const line of disagreements.get(values.list as Rule) ?? []) process.stdout.write(`- ${line}\n`);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
