import type Database from 'better-sqlite3';
import { IndexerError, ERROR_CODES } from '../shared/errors.js';

/**
 * Forward-only migrations, in order. `PRAGMA user_version` holds how many have run; migration i brings the
 * file from version i to i+1. Never edit a released migration: append a new one (readers rely on
 * docs/schema.md).
 */
const MIGRATIONS: readonly string[] = [
  /* v1 */ `
  -- Small columns first: SQLite reads a row's columns in order, and the incremental check (content_hash,
  -- stat_key) must not walk a 100 KB body's overflow pages to reach them.
  CREATE TABLE skills (
    id             TEXT PRIMARY KEY,
    source_id      TEXT NOT NULL,
    path           TEXT NOT NULL,
    content_hash   TEXT NOT NULL,
    stat_key       TEXT,                     -- the files' names, sizes, mtimes, ctimes, inodes (skip re-reads)
    removed_at     TEXT,
    first_seen_run INTEGER NOT NULL,
    last_seen_run  INTEGER NOT NULL,
    indexed_at     TEXT NOT NULL,
    source_kind    TEXT,                     -- 'dir' | 'git' | 'github'
    source_url     TEXT,                     -- where a person can open it (file://, repository URL at a commit)
    source_ref     TEXT,                     -- branch, tag or commit asked for (git, github)
    commit_id      TEXT,                     -- commit the content was read at (git, github)
    blob_sha       TEXT,                     -- git blob id of its SKILL.md (git, github)
    trust          TEXT,                     -- the source's trust label, if any
    name           TEXT NOT NULL,
    license        TEXT,
    allowed_tools  TEXT,                     -- JSON array of strings, or NULL
    warnings       TEXT NOT NULL DEFAULT '[]', -- JSON array of {code, message}
    description    TEXT NOT NULL,
    front_matter   TEXT NOT NULL,            -- JSON object, every key of the YAML front matter
    body           TEXT NOT NULL
  );
  -- Covering index for the incremental check: one index scan per source, no row (body) pages touched.
  CREATE INDEX skills_source ON skills(source_id, id, content_hash, stat_key, removed_at);

  CREATE TABLE embedding_models (
    model_id    TEXT PRIMARY KEY,
    dim         INTEGER NOT NULL,
    pooling     TEXT NOT NULL,
    text_config TEXT NOT NULL,               -- JSON: what text each vector was made from
    created_at  TEXT NOT NULL
  );

  CREATE TABLE skill_embeddings (
    skill_id  TEXT NOT NULL REFERENCES skills(id),
    model_id  TEXT NOT NULL REFERENCES embedding_models(model_id),
    chunk     INTEGER NOT NULL DEFAULT 0,     -- 0 = the skill vector (name + description)
    dim       INTEGER NOT NULL,
    text_hash TEXT NOT NULL,                  -- sha256 of the exact text embedded (before the BLOB: read often)
    vector    BLOB NOT NULL,                  -- dim little-endian float32, L2-normalised
    PRIMARY KEY (skill_id, model_id, chunk)
  ) WITHOUT ROWID;
  CREATE INDEX skill_embeddings_text ON skill_embeddings(model_id, text_hash);
  -- Covering (skill, model) → text_hash without reading the 2 KB vector rows.
  CREATE INDEX skill_embeddings_skill ON skill_embeddings(skill_id, model_id, chunk, text_hash);

  -- External-content FTS5 over live skills only: triggers keep it in step, tombstoned rows leave it.
  CREATE VIRTUAL TABLE skills_fts USING fts5(
    name, description, body, content='skills', content_rowid='rowid', tokenize='porter unicode61 remove_diacritics 2'
  );
  CREATE TRIGGER skills_fts_insert AFTER INSERT ON skills WHEN new.removed_at IS NULL BEGIN
    INSERT INTO skills_fts(rowid, name, description, body) VALUES (new.rowid, new.name, new.description, new.body);
  END;
  CREATE TRIGGER skills_fts_delete AFTER DELETE ON skills WHEN old.removed_at IS NULL BEGIN
    INSERT INTO skills_fts(skills_fts, rowid, name, description, body)
      VALUES ('delete', old.rowid, old.name, old.description, old.body);
  END;
  CREATE TRIGGER skills_fts_update_old AFTER UPDATE OF name, description, body, removed_at ON skills
    WHEN old.removed_at IS NULL BEGIN
    INSERT INTO skills_fts(skills_fts, rowid, name, description, body)
      VALUES ('delete', old.rowid, old.name, old.description, old.body);
  END;
  CREATE TRIGGER skills_fts_update_new AFTER UPDATE OF name, description, body, removed_at ON skills
    WHEN new.removed_at IS NULL BEGIN
    INSERT INTO skills_fts(rowid, name, description, body) VALUES (new.rowid, new.name, new.description, new.body);
  END;

  -- One row per source ever crawled: what it is, and what it remembers between runs (commit, ETags).
  CREATE TABLE sources (
    id          TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    location    TEXT NOT NULL,              -- credentials removed
    ref         TEXT,
    trust       TEXT,
    state       TEXT,                       -- JSON, written only after a complete crawl whose batches are all written
    last_commit TEXT,
    last_run    INTEGER,
    updated_at  TEXT NOT NULL
  );

  CREATE TABLE index_runs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    mode        TEXT NOT NULL,                -- 'embedded' | 'distributed'
    sources     TEXT NOT NULL,                -- JSON array of {id, kind, location}
    model_id    TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    status      TEXT NOT NULL,                -- 'running' | 'completed' | 'interrupted' | 'failed'
    seen        INTEGER NOT NULL DEFAULT 0,
    indexed     INTEGER NOT NULL DEFAULT 0,
    unchanged   INTEGER NOT NULL DEFAULT 0,
    removed     INTEGER NOT NULL DEFAULT 0,
    failed      INTEGER NOT NULL DEFAULT 0,
    embedded    INTEGER NOT NULL DEFAULT 0,
    warnings    INTEGER NOT NULL DEFAULT 0
  );

  CREATE TABLE index_errors (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id     INTEGER NOT NULL REFERENCES index_runs(id),
    source_id  TEXT NOT NULL,
    path       TEXT NOT NULL,
    code       TEXT NOT NULL,
    message    TEXT NOT NULL,
    line       INTEGER,
    stat_key   TEXT,                          -- the rejected files' stat key: unchanged files are not re-read
    created_at TEXT NOT NULL,
    UNIQUE (run_id, source_id, path, code)
  );
  CREATE INDEX index_errors_run ON index_errors(run_id);
  CREATE INDEX index_errors_source ON index_errors(source_id, path);
  `,
  /* v2: distributed runs — a run survives a writer restart, and every batch is written exactly once. */ `
  -- The distributed producer names its run; the writer maps that key to the row, however often it is told.
  ALTER TABLE index_runs ADD COLUMN run_key TEXT;
  -- Each crawl of a distributed run (a redelivered or retried crawl job) is a new attempt, numbered by the
  -- writer; messages of an older attempt are stale and ignored.
  ALTER TABLE index_runs ADD COLUMN attempt INTEGER NOT NULL DEFAULT 1;
  CREATE UNIQUE INDEX index_runs_key ON index_runs(run_key) WHERE run_key IS NOT NULL;

  -- Skills a running run has seen, for tombstoning. Persistent (it was a temp table): a writer that restarts
  -- mid-run must still know what the run saw. Rows are deleted when their run ends.
  CREATE TABLE run_seen (
    run_id   INTEGER NOT NULL,
    skill_id TEXT NOT NULL,
    PRIMARY KEY (run_id, skill_id)
  ) WITHOUT ROWID;

  -- Batches (and source completions) a distributed run has written, in the same transaction as their rows:
  -- a redelivered job finds its key here and changes nothing, so at-least-once delivery writes exactly once.
  CREATE TABLE run_batches (
    run_id     INTEGER NOT NULL,
    batch_key  TEXT NOT NULL,                 -- 'a<attempt>/<source>/<n>' or 'a<attempt>/<source>/done'
    attempt    INTEGER NOT NULL,
    source_id  TEXT NOT NULL,
    kind       TEXT NOT NULL,                 -- 'batch' | 'source-done' | 'source-timeout'
    changed    INTEGER NOT NULL DEFAULT 0,    -- skill rows that changed
    embedded   INTEGER NOT NULL DEFAULT 0,    -- texts the workers embedded for it
    removed    INTEGER NOT NULL DEFAULT 0,    -- skills tombstoned (source-done)
    written_at TEXT NOT NULL,
    PRIMARY KEY (run_id, batch_key)
  ) WITHOUT ROWID;
  `,
  /* v3: recovery and spec warnings — readers can ask for spec-valid skills and fold near-identical copies. */ `
  -- 1 when the skill breaks no Agent Skills rule (no warning). Rows written before v3 get their old warnings'
  -- verdict now and the new rules' verdict when the next run re-parses them (parse_version below).
  ALTER TABLE skills ADD COLUMN spec_valid INTEGER NOT NULL DEFAULT 0;
  UPDATE skills SET spec_valid = (warnings = '[]');
  -- Same value for near-identical copies (name + Markdown skeleton, see src/shared/parse-rules.ts); NULL until
  -- the row is re-parsed: readers treat NULL as a group of its own.
  ALTER TABLE skills ADD COLUMN dup_key TEXT;
  -- The parse rules the row was made with: a run re-parses rows made with other rules, bytes unchanged or not.
  ALTER TABLE skills ADD COLUMN parse_version INTEGER NOT NULL DEFAULT 1;
  ALTER TABLE index_errors ADD COLUMN parse_version INTEGER NOT NULL DEFAULT 1;
  CREATE INDEX skills_dup_key ON skills(dup_key) WHERE dup_key IS NOT NULL;
  -- The incremental check now reads parse_version too: keep it covered, so no body page is touched.
  DROP INDEX skills_source;
  CREATE INDEX skills_source ON skills(source_id, id, content_hash, stat_key, removed_at, parse_version);
  `,
  /* v4: one FTS update trigger. SQLite fires the triggers of one event newest first, so v1's pair inserted
     the new text, then deleted the row from skills_fts again: an updated skill dropped out of full-text search. */ `
  DROP TRIGGER skills_fts_update_old;
  DROP TRIGGER skills_fts_update_new;
  CREATE TRIGGER skills_fts_update AFTER UPDATE OF name, description, body, removed_at ON skills BEGIN
    INSERT INTO skills_fts(skills_fts, rowid, name, description, body)
      SELECT 'delete', old.rowid, old.name, old.description, old.body WHERE old.removed_at IS NULL;
    INSERT INTO skills_fts(rowid, name, description, body)
      SELECT new.rowid, new.name, new.description, new.body WHERE new.removed_at IS NULL;
  END;
  -- Rows the old triggers dropped come back: the index is rebuilt from the live skills.
  INSERT INTO skills_fts(skills_fts) VALUES ('rebuild');
  `,
];

/** The schema version this build writes and understands. */
export const SCHEMA_VERSION = MIGRATIONS.length;

/**
 * Brings the database up to {@link SCHEMA_VERSION} (or `target`, for tests that need a file of an older
 * version), each migration in its own transaction so a crash leaves the file at a whole version. Refuses a
 * file from a newer build rather than guess at it.
 */
export function migrate(db: Database.Database, target: number = SCHEMA_VERSION): number {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > SCHEMA_VERSION) {
    throw new IndexerError(
      ERROR_CODES.DATABASE,
      `database schema version ${current} is newer than this indexer understands (${SCHEMA_VERSION}): upgrade skillsmith-index`,
    );
  }
  for (let v = current; v < Math.min(target, SCHEMA_VERSION); v++) {
    const sql = MIGRATIONS[v] as string;
    db.transaction(() => {
      db.exec(sql);
      db.pragma(`user_version = ${v + 1}`);
    }).immediate();
  }
  return db.pragma('user_version', { simple: true }) as number;
}

/** What an existing SQLite file holds, as far as the indexer is concerned. */
export type IndexFileKind = 'empty' | 'index' | 'foreign';

/**
 * Looks at a database before anything changes it: a file with tables but none of ours is another program's
 * database, which must never get our tables or be switched to WAL. Reading the schema also surfaces a corrupt
 * or non-SQLite file (SQLITE_NOTADB / SQLITE_CORRUPT) here, before any write.
 */
export function inspectIndexFile(db: Database.Database): IndexFileKind {
  const version = db.pragma('user_version', { simple: true }) as number;
  const tables = db
    .prepare(`SELECT name FROM sqlite_master WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite_%'`)
    .pluck()
    .all() as string[];
  if (tables.length === 0 && version === 0) return 'empty';
  return version > 0 && tables.includes('skills') && tables.includes('index_runs') ? 'index' : 'foreign';
}
