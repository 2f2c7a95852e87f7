import type { SearchFilters } from './types.js';

/** {@link SearchFilters} after validation: null = no constraint. */
export interface NormalizedFilters {
  sources: readonly string[] | null;
  pathPrefix: string | null;
  /** ASCII-lowercased, to compare like SQLite's NOCASE. */
  licenses: readonly string[] | null;
}

/** What a skill must expose to be filtered in memory (the vector scan). */
export interface FilterableSkill {
  sourceId: string;
  path: string;
  license: string | null;
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
  };
}

export function hasFilters(f: NormalizedFilters): boolean {
  return f.sources !== null || f.pathPrefix !== null || f.licenses !== null;
}

/** Named parameters for the SQL side (see FILTER_SQL). */
export function filterParams(f: NormalizedFilters): {
  sources: string | null;
  prefix: string | null;
  licenses: string | null;
} {
  return {
    sources: f.sources && JSON.stringify(f.sources),
    prefix: f.pathPrefix,
    licenses: f.licenses && JSON.stringify(f.licenses),
  };
}

/**
 * The same filters in SQL over `skills s`, as one static clause (one prepared statement serves every filter
 * combination; lists travel as JSON arrays).
 */
export const FILTER_SQL = `
  (@sources IS NULL OR s.source_id IN (SELECT value FROM json_each(@sources)))
  AND (@prefix IS NULL OR substr(s.path, 1, length(@prefix)) = @prefix)
  AND (@licenses IS NULL OR s.license COLLATE NOCASE IN (SELECT value FROM json_each(@licenses)))`;

/** The same filters as a predicate, for the in-memory vector scan. */
export function filterPredicate(f: NormalizedFilters): (s: FilterableSkill) => boolean {
  const sources = f.sources && new Set(f.sources);
  const licenses = f.licenses && new Set(f.licenses);
  const prefix = f.pathPrefix;
  return (s) =>
    (!sources || sources.has(s.sourceId)) &&
    (prefix === null || s.path.startsWith(prefix)) &&
    (!licenses || (s.license !== null && licenses.has(asciiLower(s.license))));
}
