import type { SkillWarning } from '../shared/records.js';

/** How {@link SkillIndex.search} ranks: BM25 over the text, cosine over the vectors, or both fused. */
export type SearchMode = 'hybrid' | 'fts' | 'vector';

/** Restricts a search to some skills. Every filter given must hold (AND); a list matches any of its values. */
export interface SearchFilters {
  /** Source id(s), e.g. `anthropics__skills`. */
  sourceId?: string | readonly string[];
  /** Skill path within its source starts with this (case-sensitive), e.g. `skills/`. */
  pathPrefix?: string;
  /** `license` front matter value(s), compared ASCII case-insensitively, e.g. `MIT`. */
  license?: string | readonly string[];
  /** Only spec-valid skills: no warning, nothing recovered (the `spec_valid` column). Default false. */
  strict?: boolean;
  /** Leave out skills carrying any of these warning codes (docs/errors.md), e.g. `W_RECOVERED_NO_FRONT_MATTER`. */
  excludeWarnings?: string | readonly string[];
}

/** Options of {@link SkillIndex.search}. */
export interface SearchOptions {
  /** Results wanted, 1–1000. Default 10. */
  k?: number;
  /** Default `'hybrid'`. */
  mode?: SearchMode;
  filters?: SearchFilters;
  /**
   * One result per group of near-identical copies (same `dup_key`: translated or copied versions of one
   * skill), the best-ranked one. Needs a schema v3 index. Default false.
   */
  fold?: boolean;
}

/** One hit: one per skill, best first. */
export interface SearchResult {
  /** Stable skill id: `${source}/${path}`. */
  id: string;
  name: string;
  path: string;
  /** Source id. */
  source: string;
  /**
   * Higher is better; the scale depends on the mode: `fts` = −BM25 (unbounded), `vector` = cosine similarity
   * (−1…1), `hybrid` = weighted reciprocal-rank-fusion score (small positive numbers). Compare scores within one result list only.
   */
  score: number;
  description: string;
  /** 1-based rank in the full-text list (fts and hybrid modes), when the skill was in it. */
  ftsRank?: number;
  /** 1-based rank in the vector list (vector and hybrid modes), when the skill was in it. */
  vectorRank?: number;
  /** Codes of the skill's warnings (docs/errors.md); empty for a spec-valid skill. */
  warnings: string[];
}

/** A whole stored skill, as {@link SkillIndex.getSkill} returns it. */
export interface Skill {
  id: string;
  sourceId: string;
  path: string;
  name: string;
  description: string;
  body: string;
  /** Every key of the YAML front matter. */
  frontMatter: Record<string, unknown>;
  license: string | null;
  allowedTools: string[] | null;
  warnings: SkillWarning[];
  /** No warning: the skill breaks no Agent Skills rule and nothing in it was recovered. */
  specValid: boolean;
  /** Shared by near-identical copies of one skill; null in files before schema v3 or rows not yet re-parsed. */
  dupKey: string | null;
  contentHash: string;
  firstSeenRun: number;
  lastSeenRun: number;
  /** ISO time the row was last written. */
  indexedAt: string;
  /** ISO time the skill disappeared from its source; null while it is live. */
  removedAt: string | null;
  /** Where the content came from, as the crawl recorded it (null where the source kind has no such thing). */
  provenance: SkillProvenance;
}

/** Where a stored skill was read from: the `skills` table's source columns. */
export interface SkillProvenance {
  /** `dir`, `git` or `github`. */
  kind: string | null;
  /** Where a person can open it: a `file://` URL or a repository URL at a commit. */
  url: string | null;
  /** Branch, tag or commit asked for (git, github). */
  ref: string | null;
  /** Commit the content was read at (git, github). */
  commit: string | null;
  /** Git blob id of its SKILL.md (git, github). */
  blobSha: string | null;
  /** The source's trust label, if any. */
  trust: string | null;
}

/** One source, as {@link SkillIndex.listSources} returns it. */
export interface SourceSummary {
  id: string;
  /** Live skills. */
  skills: number;
  /** Tombstoned skills. */
  removed: number;
  /** When the last completed run that crawled this source finished (else the newest row write); ISO. */
  lastIndexedAt: string | null;
}

/** One run, as {@link IndexStatus} lists it. */
export interface RunStatus {
  id: number;
  /** `embedded` or `distributed`. */
  mode: string;
  /** `running`, `completed`, `interrupted` or `failed`. */
  status: string;
  /** ISO times. */
  startedAt: string;
  finishedAt: string | null;
  /** seen, indexed, unchanged, removed, failed, embedded, warnings (docs/schema.md, `index_runs`). */
  counts: Record<string, number>;
}

/** What an index holds and how its last runs went, from one snapshot, as {@link SkillIndex.status} returns it. */
export interface IndexStatus {
  /** Every model with its vector count. */
  models: { id: string; dim: number; vectors: number }[];
  /** Every source with skills: live and tombstoned counts, the commit last indexed (git, github). */
  sources: { id: string; kind: string | null; live: number; removed: number; lastCommit: string | null }[];
  /** The latest runs, newest first. */
  runs: RunStatus[];
  /** The latest run's rejections, by code, most frequent first. */
  lastRunErrors: { code: string; count: number }[];
}

/** The embedding model whose vectors a reader searches. */
export interface IndexModel {
  id: string;
  dim: number;
}

/** A read-only, long-lived handle on a skillsmith index file. Safe to keep open while the writer writes. */
export interface SkillIndex {
  /** `PRAGMA user_version` of the file. */
  readonly schemaVersion: number;
  /** The model whose vectors vector/hybrid search uses; undefined while the index has no model yet. */
  readonly model: IndexModel | undefined;
  /** The best `k` live skills for a query; never throws on odd query text (it may return nothing). */
  search(query: string, options?: SearchOptions): Promise<SearchResult[]>;
  /** A skill by id; tombstoned skills only with `includeRemoved`. */
  getSkill(id: string, options?: { includeRemoved?: boolean }): Skill | undefined;
  /** Every source with skills in the index, by id. */
  listSources(): SourceSummary[];
  /** Models, sources, the latest `runs` runs (default 5) and the last run's rejections, from one snapshot. */
  status(options?: { runs?: number }): IndexStatus;
  /** Releases the query embedder and the connection. Idempotent. */
  close(): Promise<void>;
}
