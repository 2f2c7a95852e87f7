import type { SearchFilters } from './types.js';

/** {@link SearchFilters} after validation: null = no constraint. */
export interface NormalizedFilters {
  sources: readonly string[] | null;
  pathPrefix: string | null;
  /** ASCII-lowercased, to compare like SQLite's NOCASE. */
  licenses: readonly string[] | null;
  /** Spec-valid skills only (no warning). */
  strict: boolean;
  /** Skills carrying any of these warning codes are left out. */
  excludeWarnings: readonly string[] | null;
}

/** What a skill must expose to be filtered in memory (the vector scan). */
export interface FilterableSkill {
  sourceId: string;
  path: string;
  license: string | null;
  /** The codes of its warnings; empty for a spec-valid skill. */
  warningCodes: readonly string[];
}

const NO_CODES: readonly string[] = Object.freeze([]);

/** The codes of a `skills.warnings` JSON value (shared empty list for the common `[]`). */
export function warningCodesOf(warningsJson: string): readonly string[] {
  if (warningsJson === '[]') return NO_CODES;
  try {
    const list = JSON.parse(warningsJson) as unknown;
    if (!Array.isArray(list)) return NO_CODES;
    return list.map((w) => String((w as { code?: unknown }).code));
  } catch {
    return NO_CODES;
  }
}

const asList = (v: string | readonly string[] | undefined): readonly string[] | null =>
  v === undefined ? null : typeof v === 'string' ? [v] : v;

/** SQLite's NOCASE folds ASCII letters only; do the same so SQL and in-memory filters agree. */
export const asciiLower = (s: string): string => s.replace(/[A-Z]/g, (c) => c.toLowerCase());

export function normalizeFilters(f: SearchFilters | undefined): NormalizedFilters {
  return {
    sources: asList(f?.sourceId),
    pathPrefix: f?.pathPrefix ?? null,
    licenses: asList(f?.license)?.map(asciiLower) ?? null,
    strict: f?.strict ?? false,
    excludeWarnings: asList(f?.excludeWarnings),
  };
}

export function hasFilters(f: NormalizedFilters): boolean {
  return (
    f.sources !== null ||
    f.pathPrefix !== null ||
    f.licenses !== null ||
    f.strict ||
    f.excludeWarnings !== null
  );
}

/** Named parameters for the SQL side (see FILTER_SQL). */
export function filterParams(f: NormalizedFilters): {
  sources: string | null;
  prefix: string | null;
  licenses: string | null;
  strict: 0 | 1;
  excluded: string | null;
} {
  return {
    sources: f.sources && JSON.stringify(f.sources),
    prefix: f.pathPrefix,
    licenses: f.licenses && JSON.stringify(f.licenses),
    strict: f.strict ? 1 : 0,
    excluded: f.excludeWarnings && JSON.stringify(f.excludeWarnings),
  };
}

/**
 * The same filters in SQL over `skills s`, as one static clause (one prepared statement serves every filter
 * combination; lists travel as JSON arrays). Spec-valid is read as `warnings = '[]'`, which is what the v3
 * column `spec_valid` records, so the clause also works on v1 and v2 files.
 */
export const FILTER_SQL = `
  (@sources IS NULL OR s.source_id IN (SELECT value FROM json_each(@sources)))
  AND (@prefix IS NULL OR substr(s.path, 1, length(@prefix)) = @prefix)
  AND (@licenses IS NULL OR s.license COLLATE NOCASE IN (SELECT value FROM json_each(@licenses)))
  AND (@strict = 0 OR s.warnings = '[]')
  AND (@excluded IS NULL OR NOT EXISTS (
    SELECT 1 FROM json_each(s.warnings) w
     WHERE json_extract(w.value, '$.code') IN (SELECT value FROM json_each(@excluded))))`;

/** The same filters as a predicate, for the in-memory vector scan. */
export function filterPredicate(f: NormalizedFilters): (s: FilterableSkill) => boolean {
  const sources = f.sources && new Set(f.sources);
  const licenses = f.licenses && new Set(f.licenses);
  const prefix = f.pathPrefix;
  const excluded = f.excludeWarnings && new Set(f.excludeWarnings);
  return (s) =>
    (!sources || sources.has(s.sourceId)) &&
    (prefix === null || s.path.startsWith(prefix)) &&
    (!licenses || (s.license !== null && licenses.has(asciiLower(s.license)))) &&
    (!f.strict || s.warningCodes.length === 0) &&
    (!excluded || !s.warningCodes.some((c) => excluded.has(c)));
}
