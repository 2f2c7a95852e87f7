/**
 * Child process: what a simple indexer does. For each crawled skill, in order: parse it, embed its text alone
 * (a batch of 1) on one ORT session with all the thread budget as intra-op threads, and insert it with one
 * autocommit INSERT (no transaction around rows) into a fresh WAL-mode SQLite file. No text dedup, no
 * pipelining: crawl, parse, embed and write take turns on one thread.
 */
import Database from 'better-sqlite3';
import { loadModelSpec } from '../src/model/model-spec.js';
import { skillText } from '../src/model/text-config.js';
import { dirSourceId } from '../src/producer/source-arg.js';
import { crawlDir } from '../src/producer/dir-source.js';
import { parseSkill } from '../src/stages/parse-skill.js';
import { createEmbedder } from '../src/workers/embedder.js';
import { childMain, maxRssKb, type BenchSource } from './child.js';

export interface SequentialInput {
  sources: BenchSource[];
  db: string;
  modelDir: string;
  threads: number;
}

export interface SequentialResult {
  seen: number;
  indexed: number;
  failed: number;
  embedded: number;
  /** From loading the model to the last INSERT, ms. */
  wallMs: number;
  /** Of wallMs: loading the model (tokenizer + ORT session). */
  loadMs: number;
  /** Of wallMs: time inside embed() calls, and inside INSERTs. The rest is crawl + parse. */
  embedMs: number;
  insertMs: number;
  /** SQLite `synchronous` setting used (the library default). */
  synchronous: number;
  maxRssKb: number;
}

childMain<SequentialInput, SequentialResult>(async (input) => {
  const spec = loadModelSpec(input.modelDir);
  // The clock includes the session load, as the pipeline's includes its pool start.
  const started = performance.now();
  const embedder = await createEmbedder(spec, { intraOpThreads: input.threads });
  const loadMs = performance.now() - started;
  const db = new Database(input.db);
  db.pragma('journal_mode = WAL');
  const synchronous = db.pragma('synchronous', { simple: true }) as number;
  db.exec(`
    CREATE TABLE skills (
      id TEXT PRIMARY KEY, source_id TEXT NOT NULL, path TEXT NOT NULL, name TEXT NOT NULL,
      description TEXT NOT NULL, body TEXT NOT NULL, front_matter TEXT NOT NULL, content_hash TEXT NOT NULL,
      model_id TEXT NOT NULL, vector BLOB NOT NULL
    );
    CREATE TABLE errors (source_id TEXT NOT NULL, path TEXT NOT NULL, code TEXT NOT NULL, message TEXT NOT NULL);
  `);
  const insertSkill = db.prepare(
    `INSERT INTO skills VALUES (@id, @sourceId, @path, @name, @description, @body, @frontMatter, @contentHash, @modelId, @vector)`,
  );
  const insertError = db.prepare(`INSERT INTO errors VALUES (?, ?, ?, ?)`);

  let seen = 0;
  let indexed = 0;
  let failed = 0;
  let embedMs = 0;
  let insertMs = 0;
  for (const source of input.sources) {
    const sourceId = source.id ?? dirSourceId(source.root);
    for await (const item of crawlDir({ root: source.root, sourceId })) {
      if (!('files' in item)) {
        // A left-out sibling file is not a skill; an unreadable SKILL.md is a rejected one.
        if (!('scope' in item) || item.scope !== 'skill') continue;
        seen++;
        failed++;
        const t = performance.now();
        insertError.run(item.sourceId, item.path, item.code, item.message);
        insertMs += performance.now() - t;
        continue;
      }
      seen++;
      const parsed = parseSkill(item);
      if (!parsed.ok) {
        failed++;
        const t = performance.now();
        insertError.run(item.sourceId, item.path, parsed.code, parsed.message);
        insertMs += performance.now() - t;
        continue;
      }
      const s = parsed.skill;
      const t0 = performance.now();
      const { vectors } = await embedder.embed([skillText(s)]);
      const t1 = performance.now();
      insertSkill.run({
        id: s.id,
        sourceId: s.sourceId,
        path: s.path,
        name: s.name,
        description: s.description,
        body: s.body,
        frontMatter: JSON.stringify(s.frontMatter),
        contentHash: s.contentHash,
        modelId: spec.id,
        vector: Buffer.from(vectors.buffer, vectors.byteOffset, vectors.byteLength),
      });
      const t2 = performance.now();
      embedMs += t1 - t0;
      insertMs += t2 - t1;
      indexed++;
    }
  }
  const wallMs = performance.now() - started;
  db.close();
  await embedder.release();
  return {
    seen,
    indexed,
    failed,
    embedded: indexed,
    wallMs,
    loadMs,
    embedMs,
    insertMs,
    synchronous,
    maxRssKb: maxRssKb(),
  };
});
