/** The read-only library downstream readers import: open an index file, search it, read skills and sources. */
export { openIndex } from './open-index.js';
export { OpenIndexOptionsSchema, type OpenIndexOptions } from './open-options.js';
export { MAX_QUERY_CHARS } from './skill-index.js';
export { toFtsQuery } from './fts-query.js';
export { reciprocalRankFusion, type FusedHit, type FusionOptions } from './fusion.js';
export { BM25_WEIGHTS } from './fts-search.js';
export type {
  IndexModel,
  IndexStatus,
  RunStatus,
  SearchFilters,
  SearchMode,
  SearchOptions,
  SearchResult,
  Skill,
  SkillProvenance,
  SkillIndex,
  SourceSummary,
} from './types.js';
