import { z } from 'zod';

/**
 * The SKILL.md front matter, per the Agent Skills spec, as zod schemas.
 *
 * The indexer is more lenient than the spec on real data (see `parseSkill`): only a usable `description`
 * is required; every other rule the spec states becomes a warning. So the per-field schemas below are what
 * `parseSkill` checks one by one, and {@link frontMatterSchema} is the whole spec-conforming shape: front
 * matter that passes it yields no warning.
 */

/**
 * `name`: lowercase letters, digits and single hyphens, no leading/trailing hyphen. Letters are Unicode
 * letters, as the Agent Skills reference validator (`skills-ref`) reads the spec: `数据分析` and `данные` are
 * valid names, `Data` and `a--b` are not.
 */
export const SKILL_NAME_PATTERN = /^[\p{L}\p{M}\p{Nd}]+(-[\p{L}\p{M}\p{Nd}]+)*$/u;
export const MAX_NAME_LENGTH = 64;
export const MAX_DESCRIPTION_LENGTH = 1024;
export const MAX_COMPATIBILITY_LENGTH = 500;

/** Whether `name` (trimmed, NFKC-normalised as the spec compares it) follows the naming rule; length apart. */
export function isSpecName(name: string): boolean {
  const n = name.trim().normalize('NFKC');
  return n === n.toLowerCase() && SKILL_NAME_PATTERN.test(n);
}

/** Length in Unicode code points, which is what the spec's "characters" means for non-ASCII text. */
export function charLength(s: string): number {
  return Array.from(s).length;
}

/** A spec-conforming `name`. */
export const skillNameSchema = z
  .string()
  .refine((s) => charLength(s) <= MAX_NAME_LENGTH, `must be at most ${MAX_NAME_LENGTH} characters`)
  .refine(isSpecName, 'must be lowercase letters, digits and hyphens (e.g. "pdf-tools")');

/** A usable `description`: a string with non-whitespace in it; surrounding whitespace is trimmed. */
export const descriptionSchema = z
  .string()
  .transform((s) => s.trim())
  .refine((s) => s.length > 0, 'must not be empty');

/** A spec-conforming `description`: also at most 1024 characters. */
export const strictDescriptionSchema = descriptionSchema.refine(
  (s) => charLength(s) <= MAX_DESCRIPTION_LENGTH,
  `must be at most ${MAX_DESCRIPTION_LENGTH} characters`,
);

/** `license`: free text (an SPDX id or a pointer to a bundled licence file). */
export const licenseSchema = z.string();

/**
 * Splits an `allowed-tools` string on commas and whitespace outside parentheses, so that
 * `Read, Bash(git status:*) Grep` → `["Read", "Bash(git status:*)", "Grep"]`.
 */
export function splitAllowedTools(value: string): string[] {
  const tools: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of value) {
    if (ch === '(') depth++;
    else if (ch === ')') depth = Math.max(0, depth - 1);
    if (depth === 0 && (ch === ',' || /\s/.test(ch))) {
      if (current) tools.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  if (current) tools.push(current);
  return tools;
}

/** `allowed-tools`: a space- or comma-separated string, or a list of strings; normalised to a list. */
export const allowedToolsSchema = z.union([
  z.string().transform(splitAllowedTools),
  z.array(z.string()).transform((items) => items.map((s) => s.trim()).filter((s) => s.length > 0)),
]);

/** `metadata`: a key/value mapping. */
export const metadataSchema = z.record(z.string(), z.unknown());

/** Spec-conforming front matter; unknown keys are allowed and kept. */
export const frontMatterSchema = z.looseObject({
  name: skillNameSchema,
  description: strictDescriptionSchema,
  license: licenseSchema.optional(),
  'allowed-tools': allowedToolsSchema.optional(),
  metadata: z.record(z.string(), z.string()).optional(),
  compatibility: z
    .string()
    .refine(
      (s) => charLength(s) <= MAX_COMPATIBILITY_LENGTH,
      `must be at most ${MAX_COMPATIBILITY_LENGTH} characters`,
    )
    .optional(),
});

export type FrontMatter = z.output<typeof frontMatterSchema>;
