import { z } from 'zod';

/**
 * The SKILL.md front matter, per the Agent Skills spec, as zod schemas.
 *
 * The indexer is more lenient than the spec on real data (see `parseSkill`): only a usable `description`
 * is required; every other rule the spec states becomes a warning. So the per-field schemas below are what
 * `parseSkill` checks one by one, and {@link frontMatterSchema} is the whole spec-conforming shape: front
 * matter that passes it yields no warning.
 */

/** `name`: 1–64 lowercase letters, digits and single hyphens, no leading/trailing hyphen. */
export const SKILL_NAME_PATTERN = /^[a-z0-9]+(-[a-z0-9]+)*$/;
export const MAX_NAME_LENGTH = 64;
export const MAX_DESCRIPTION_LENGTH = 1024;

/** Length in Unicode code points, which is what the spec's "characters" means for non-ASCII text. */
export function charLength(s: string): number {
  return Array.from(s).length;
}

/** A spec-conforming `name`. */
export const skillNameSchema = z
  .string()
  .refine((s) => charLength(s) <= MAX_NAME_LENGTH, `must be at most ${MAX_NAME_LENGTH} characters`)
  .regex(SKILL_NAME_PATTERN, 'must be lowercase letters, digits and hyphens (e.g. "pdf-tools")');

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
  metadata: metadataSchema.optional(),
});

export type FrontMatter = z.output<typeof frontMatterSchema>;
