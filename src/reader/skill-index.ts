import type Database from 'better-sqlite3';
import { ERROR_CODES, IndexerError } from '../shared/errors.js';
import type { SkillWarning } from '../shared/records.js';
import { normalizeFilters, warningCodesOf, type NormalizedFilters } from './filters.js';
import { FieldSearch } from './field-search.js';
import { FtsSearch } from './fts-search.js';
import { cjkShare } from './fts-query.js';
import { reciprocalRankFusion } from './fusion.js';
import { QueryEmbedder } from './query-embedder.js';
import { readIndexStatus } from './index-status.js';
import type {
  IndexModel,
  IndexStatus,
  SearchOptions,
  SearchResult,
  Skill,
  SkillIndex,
  SourceSummary,
} from './types.js';
import type { CheckedSearchOptions } from './search-options.js';
import { VectorSearch } from './vector-search.js';

/** How deep each list goes before hybrid fusion (at least k). */
/**
 * Longest query accepted, in characters. Ranking only ever looks at the first few hundred; a cap keeps a pasted
 * file from reaching the tokenizer and FTS5, and gives the caller a clear error instead.
 */
export const MAX_QUERY_CHARS = 2000;

const FUSION_DEPTH = 50;
/**
 * Hybrid fusion settings, chosen with `npm run eval` (docs/search-quality.md). Three lists are fused by
 * reciprocal rank: the whole-row full-text list (weight 1), the name + description list of {@link FieldSearch}
 * (0.75), and the vector list (0.5). RRF constant 5 (instead of the usual 60) keeps the head of each list
 * decisive. The field list fixes what FTS5's bm25() cannot: it normalises by the whole row's length, so a
 * skill with a long body was buried even when its description matched; the vector list weighs less than the
 * full-text lists because the default model is small and English-only. Neighbouring settings (k 3–10, field
 * weight 0.75–1, vector 0.25–0.5) all measured hybrid R@5 ≥ 90.6 %: the choice is not a sharp peak.
 */
const RRF_K = 5;
const FIELD_WEIGHT = 0.75;
const VECTOR_WEIGHT = 0.5;

/**
 * The model with the most vectors (or the one asked for); undefined while the index has none. While a re-embed
 * with another model runs, the old model has more vectors and stays live; once both are complete, the model of
 * the latest completed run wins, so the switch happens when the re-embed ends (and switching back works too).
 */
export function chooseModel(db: Database.Database, modelId: string | undefined): IndexModel | undefined {
  const models = db
    .prepare(
      `SELECT m.model_id AS id, m.dim AS dim,
              (SELECT count(*) FROM skill_embeddings e WHERE e.model_id = m.model_id) AS vectors,
              (SELECT max(r.id) FROM index_runs r
                WHERE r.model_id = m.model_id AND r.status = 'completed') AS last_run
         FROM embedding_models m
        ORDER BY vectors DESC, last_run DESC NULLS LAST, m.created_at DESC, m.model_id`,
    )
    .all() as (IndexModel & { vectors: number })[];
  if (modelId === undefined) {
    const m = models[0];
    return m && { id: m.id, dim: m.dim };
  }
  const m = models.find((x) => x.id === modelId);
  if (!m) {
    const have = models.map((x) => x.id).join(', ') || 'none';
    throw new IndexerError(
      ERROR_CODES.BAD_OPTION,
      `modelId ${modelId} has no vectors in this index (models: ${have})`,
    );
  }
  return { id: m.id, dim: m.dim };
}

interface SkillRow {
  id: string;
  source_id: string;
  path: string;
  name: string;
  description: string;
  body: string;
  front_matter: string;
  license: string | null;
  allowed_tools: string | null;
  warnings: string;
  dup_key?: string | null;
  spec_valid?: number;
  content_hash: string;
  first_seen_run: number;
  last_seen_run: number;
  indexed_at: string;
  removed_at: string | null;
  source_kind: string | null;
  source_url: string | null;
  source_ref: string | null;
  commit_id: string | null;
  blob_sha: string | null;
  trust: string | null;
}

interface ResultRow {
  id: string;
  name: string;
  path: string;
  source: string;
  description: string;
  warnings: string;
  dupKey: string | null;
}

function parseJson<T>(text: string | null, what: string, id: string): T | null {
  if (text === null) return null;
  try {
    return JSON.parse(text) as T;
  } catch (cause) {
    throw new IndexerError(ERROR_CODES.DATABASE, `skill ${id} has invalid ${what} JSON`, { cause });
  }
}

/** Options {@link SkillIndexImpl} is built with (validated by openIndex). */
export interface SkillIndexInit {
  db: Database.Database;
  schemaVersion: number;
  model: IndexModel | undefined;
  modelDir: string | undefined;
}

/**
 * The reader. Every public call runs one short statement (or one short read transaction when the vector
 * matrix reloads); nothing holds a read transaction between calls, so checkpoints are never pinned.
 */
export class SkillIndexImpl implements SkillIndex {
  readonly schemaVersion: number;
  private readonly db: Database.Database;
  private currentModel: IndexModel | undefined;
  private readonly modelDir: string | undefined;
  private readonly fts: FtsSearch;
  private readonly fields: FieldSearch;
  private vectors: VectorSearch | undefined;
  private embedder: QueryEmbedder | undefined;
  private closed = false;
  private readonly stmts: {
    skill: Database.Statement;
    results: Database.Statement;
    sources: Database.Statement;
  };

  constructor(init: SkillIndexInit) {
    this.db = init.db;
    this.schemaVersion = init.schemaVersion;
    this.currentModel = init.model;
    this.modelDir = init.modelDir;
    this.fts = new FtsSearch(this.db);
    this.fields = new FieldSearch(this.db);
    this.stmts = {
      skill: this.db.prepare(`SELECT * FROM skills WHERE id = ?`),
      // dup_key exists from schema v3 on; older files have no groups to fold.
      results: this.db.prepare(
        `SELECT id, name, path, source_id AS source, description, warnings,
                ${init.schemaVersion >= 3 ? 'dup_key' : 'NULL'} AS dupKey FROM skills
          WHERE id IN (SELECT value FROM json_each(?)) AND removed_at IS NULL`,
      ),
      // lastIndexedAt: the last completed run that crawled the source (unchanged skills are not rewritten, so
      // max(indexed_at) alone would say "long ago" for a source re-crawled an hour ago without changes).
      sources: this.db.prepare(
        `WITH per_source AS (
           SELECT source_id, sum(removed_at IS NULL) AS skills, sum(removed_at IS NOT NULL) AS removed,
                  max(indexed_at) AS last_write
             FROM skills GROUP BY source_id),
         runs AS (
           SELECT json_extract(j.value, '$.id') AS source_id, max(r.finished_at) AS finished
             FROM index_runs r, json_each(r.sources) j
            WHERE r.status = 'completed' AND json_valid(r.sources)
              AND coalesce(json_extract(j.value, '$.status'), 'completed') = 'completed'
            GROUP BY 1)
         SELECT p.source_id AS id, p.skills AS skills, p.removed AS removed,
                coalesce(runs.finished, p.last_write) AS lastIndexedAt
           FROM per_source p LEFT JOIN runs ON runs.source_id = p.source_id
          ORDER BY p.source_id`,
      ),
    };
  }

  get model(): IndexModel | undefined {
    return this.currentModel;
  }

  private assertOpen(): void {
    if (this.closed) throw new IndexerError(ERROR_CODES.DATABASE, 'the index is closed');
  }

  /** The vector side, created once the index has a model (an index opened before its first run may not). */
  private vectorSide(): { vectors: VectorSearch; embedder: QueryEmbedder } | undefined {
    if (!this.currentModel) this.currentModel = chooseModel(this.db, undefined);
    const model = this.currentModel;
    if (!model) return undefined;
    this.vectors ??= new VectorSearch(this.db, model);
    this.embedder ??= new QueryEmbedder(model, this.modelDir);
    return { vectors: this.vectors, embedder: this.embedder };
  }

  private async vectorHits(query: string, limit: number, filters: NormalizedFilters) {
    const side = this.vectorSide();
    if (!side) {
      throw new IndexerError(ERROR_CODES.MODEL, 'the index has no vectors yet (no index run has started)');
    }
    if (query.trim() === '') return [];
    const q = await side.embedder.embed(query);
    this.assertOpen(); // closed while the model loaded
    return side.vectors.search(q, limit, filters);
  }

  /** Open, and the query a string within {@link MAX_QUERY_CHARS}: checked before the options, by both entries. */
  private checkQuery(query: unknown): void {
    this.assertOpen();
    if (typeof query !== 'string') throw new IndexerError(ERROR_CODES.BAD_OPTION, 'query must be a string');
    if (query.length > MAX_QUERY_CHARS) {
      throw new IndexerError(
        ERROR_CODES.BAD_OPTION,
        `query is ${query.length} characters; the limit is ${MAX_QUERY_CHARS} (only the first few hundred matter to ranking)`,
      );
    }
  }

  async search(query: string, options?: SearchOptions): Promise<SearchResult[]> {
    this.checkQuery(query);
    const { parseSearchOptions } = await import('./search-options.js');
    return this.searchChecked(query, parseSearchOptions(options));
  }

  /**
   * {@link search} with options already checked and defaulted: for callers that validated them at their own
   * boundary (the CLI's flags, parsed by commander), so a one-shot search never loads zod.
   */
  async searchChecked(query: string, options: CheckedSearchOptions): Promise<SearchResult[]> {
    this.checkQuery(query);
    const { k, mode, filters: rawFilters, fold } = options;
    if (fold && this.schemaVersion < 3) {
      throw new IndexerError(
        ERROR_CODES.BAD_OPTION,
        `fold needs a schema v3 index (this one is v${this.schemaVersion}): run an index with this version first`,
      );
    }
    const filters = normalizeFilters(rawFilters);
    // A few spare candidates: a skill tombstoned between the ranking read and the hydration read is dropped.
    // Folding drops the copies of better-ranked skills too (groups in the corpus have up to 5 members).
    const spare = fold ? k * 5 + 5 : k + 5;

    if (mode === 'fts') {
      const hits = this.fts.search(query, spare, filters);
      return this.hydrate(
        hits.map((h, i) => ({ id: h.id, score: -h.bm25, ftsRank: i + 1 })),
        k,
        fold,
      );
    }
    if (mode === 'vector') {
      const hits = await this.vectorHits(query, spare, filters);
      return this.hydrate(
        hits.map((h, i) => ({ id: h.id, score: h.score, vectorRank: i + 1 })),
        k,
        fold,
      );
    }
    const depth = Math.max(FUSION_DEPTH, spare);
    const ftsHits = this.fts.search(query, depth, filters);
    // An index with no model yet has no vectors to fuse: hybrid is then exactly the full-text list.
    // The vector list is left out when the model cannot read the query (mostly CJK for the default model).
    const readable = cjkShare(query) <= 0.5;
    const vecHits = readable && this.vectorSide() ? await this.vectorHits(query, depth, filters) : [];
    const fieldHits = this.fields.search(query, depth, filters);
    const fused = reciprocalRankFusion(
      [ftsHits.map((h) => h.id), vecHits.map((h) => h.id), fieldHits.map((h) => h.id)],
      { k: RRF_K, weights: [1, VECTOR_WEIGHT, FIELD_WEIGHT] },
    );
    return this.hydrate(
      fused.slice(0, spare).map((f) => ({
        id: f.id,
        score: f.score,
        ftsRank: f.ranks[0],
        vectorRank: f.ranks[1],
      })),
      k,
      fold,
    );
  }

  /**
   * Adds name, path, source, description and warning codes to ranked ids, in one statement; drops skills no
   * longer live and, when folding, every skill whose group already has a better-ranked member.
   */
  private hydrate(
    ranked: { id: string; score: number; ftsRank?: number | undefined; vectorRank?: number | undefined }[],
    k: number,
    fold: boolean,
  ): SearchResult[] {
    this.assertOpen();
    if (ranked.length === 0) return [];
    const rows = this.stmts.results.all(JSON.stringify(ranked.map((r) => r.id))) as ResultRow[];
    const byId = new Map(rows.map((r) => [r.id, r]));
    const groups = new Set<string>();
    const out: SearchResult[] = [];
    for (const r of ranked) {
      const row = byId.get(r.id);
      if (!row) continue;
      if (fold) {
        const group = row.dupKey ?? `id:${row.id}`;
        if (groups.has(group)) continue;
        groups.add(group);
      }
      const result: SearchResult = {
        id: row.id,
        name: row.name,
        path: row.path,
        source: row.source,
        description: row.description,
        score: r.score,
        warnings: [...warningCodesOf(row.warnings)],
      };
      if (r.ftsRank !== undefined) result.ftsRank = r.ftsRank;
      if (r.vectorRank !== undefined) result.vectorRank = r.vectorRank;
      out.push(result);
      if (out.length === k) break;
    }
    return out;
  }

  getSkill(id: string, options: { includeRemoved?: boolean } = {}): Skill | undefined {
    this.assertOpen();
    const row = this.stmts.skill.get(id) as SkillRow | undefined;
    if (!row || (row.removed_at !== null && !options.includeRemoved)) return undefined;
    return {
      id: row.id,
      sourceId: row.source_id,
      path: row.path,
      name: row.name,
      description: row.description,
      body: row.body,
      frontMatter: parseJson<Record<string, unknown>>(row.front_matter, 'front_matter', row.id) ?? {},
      license: row.license,
      allowedTools: parseJson<string[]>(row.allowed_tools, 'allowed_tools', row.id),
      warnings: parseJson<SkillWarning[]>(row.warnings, 'warnings', row.id) ?? [],
      specValid: row.spec_valid === undefined ? row.warnings === '[]' : row.spec_valid === 1,
      dupKey: row.dup_key ?? null,
      contentHash: row.content_hash,
      firstSeenRun: row.first_seen_run,
      lastSeenRun: row.last_seen_run,
      indexedAt: row.indexed_at,
      removedAt: row.removed_at,
      provenance: {
        kind: row.source_kind,
        url: row.source_url,
        ref: row.source_ref,
        commit: row.commit_id,
        blobSha: row.blob_sha,
        trust: row.trust,
      },
    };
  }

  listSources(): SourceSummary[] {
    this.assertOpen();
    return this.stmts.sources.all() as SourceSummary[];
  }

  status(options: { runs?: number } = {}): IndexStatus {
    this.assertOpen();
    return readIndexStatus(this.db, options.runs ?? 5);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
    await this.embedder?.release();
  }
}
