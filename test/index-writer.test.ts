import Database from 'better-sqlite3';
import { existsSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../src/shared/errors.js';
import type { SkillRecord } from '../src/shared/records.js';
import { IndexWriter } from '../src/writer/index-writer.js';
import { SCHEMA_VERSION } from '../src/writer/schema.js';
import { blobToVector } from '../src/writer/vector-blob.js';
import { tempDir } from './helpers.js';

const temps: (() => void)[] = [];
afterEach(() => temps.splice(0).forEach((c) => c()));

function freshDb(): string {
  const t = tempDir();
  temps.push(t.cleanup);
  return join(t.dir, 'nested', 'index.db');
}

function skill(id: string, hash = 'h1'): SkillRecord {
  return {
    id,
    sourceId: 'src',
    path: id.slice(4),
    name: id.slice(4),
    description: `does ${id}`,
    body: `# ${id}\nbody text`,
    frontMatter: { name: id.slice(4), description: `does ${id}` },
    license: null,
    allowedTools: null,
    warnings: [],
    contentHash: hash,
  };
}

const model = { id: 'm@1', dim: 3, pooling: 'in-graph', textConfig: { version: 1 } };
const vec = (x: number): Float32Array => new Float32Array([x, 0, Math.sqrt(1 - x * x)]);

describe('IndexWriter', () => {
  it('creates a WAL database at the current schema version', () => {
    const path = freshDb();
    IndexWriter.open({ path }).close();
    const db = new Database(path, { readonly: true });
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    const tables = db
      .prepare(`SELECT name FROM sqlite_master WHERE type IN ('table') ORDER BY name`)
      .pluck()
      .all();
    expect(tables).toEqual(
      expect.arrayContaining(['skills', 'skill_embeddings', 'skills_fts', 'index_runs', 'index_errors']),
    );
    db.close();
  });

  it('refuses a database written by a newer schema', () => {
    const path = freshDb();
    IndexWriter.open({ path }).close();
    const db = new Database(path);
    db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    db.close();
    expect(() => IndexWriter.open({ path })).toThrow(/newer than this indexer understands/);
  });

  it('writing the same batch twice changes nothing the second time', () => {
    const path = freshDb();
    const w = IndexWriter.open({ path });
    w.registerModel(model);
    const runId = w.beginRun({ mode: 'embedded', sources: [], modelId: model.id });
    const batch = {
      runId,
      skills: [skill('src/a'), skill('src/b')],
      embeddings: [
        { skillId: 'src/a', modelId: model.id, chunk: 0, vector: vec(0.6), textHash: 't-a' },
        { skillId: 'src/b', modelId: model.id, chunk: 0, vector: vec(0.8), textHash: 't-b' },
      ],
      errors: [
        { sourceId: 'src', path: 'bad', code: ERROR_CODES.NO_FRONT_MATTER, message: 'no front matter' },
      ],
      seen: [],
    };
    expect(w.writeBatch(batch).changed).toBe(2);
    w.close();
    const snapshot = (): unknown => {
      const db = new Database(path, { readonly: true });
      const rows = {
        skills: db.prepare('SELECT * FROM skills ORDER BY id').all(),
        emb: db.prepare('SELECT * FROM skill_embeddings ORDER BY skill_id').all(),
        errors: db.prepare('SELECT run_id, source_id, path, code, message FROM index_errors').all(),
        fts: db.prepare(`SELECT rowid FROM skills_fts WHERE skills_fts MATCH 'body'`).pluck().all(),
      };
      db.close();
      return rows;
    };
    const before = snapshot();
    const w2 = IndexWriter.open({ path });
    expect(w2.writeBatch(batch).changed).toBe(0);
    w2.close();
    expect(snapshot()).toEqual(before);
  });

  it('stores vectors as little-endian float32 with model id and dim', () => {
    const path = freshDb();
    const w = IndexWriter.open({ path });
    w.registerModel(model);
    const runId = w.beginRun({ mode: 'embedded', sources: [], modelId: model.id });
    w.writeBatch({
      runId,
      skills: [skill('src/a')],
      embeddings: [{ skillId: 'src/a', modelId: model.id, chunk: 0, vector: vec(0.6), textHash: 't' }],
      errors: [],
      seen: [],
    });
    w.close();
    const db = new Database(path, { readonly: true });
    const row = db.prepare('SELECT model_id, dim, vector FROM skill_embeddings').get() as {
      model_id: string;
      dim: number;
      vector: Buffer;
    };
    expect(row.model_id).toBe('m@1');
    expect(row.dim).toBe(3);
    expect(row.vector.byteLength).toBe(12);
    expect(row.vector.readFloatLE(0)).toBeCloseTo(0.6, 6);
    expect(Array.from(blobToVector(row.vector))).toEqual(Array.from(vec(0.6)));
    db.close();
  });

  it('tombstones unseen skills of a source and takes them out of full-text search', () => {
    const path = freshDb();
    const w = IndexWriter.open({ path });
    w.registerModel(model);
    const r1 = w.beginRun({ mode: 'embedded', sources: [], modelId: model.id });
    w.writeBatch({
      runId: r1,
      skills: [skill('src/a'), skill('src/b')],
      embeddings: [],
      errors: [],
      seen: [],
    });
    const r2 = w.beginRun({ mode: 'embedded', sources: [], modelId: model.id });
    w.writeBatch({ runId: r2, skills: [], embeddings: [], errors: [], seen: [{ id: 'src/a' }] });
    expect(w.tombstoneUnseen('src', r2)).toBe(1);
    expect(w.tombstoneUnseen('src', r2)).toBe(0);
    w.close();
    const db = new Database(path, { readonly: true });
    const rows = db.prepare('SELECT id, removed_at IS NOT NULL AS removed FROM skills ORDER BY id').all();
    expect(rows).toEqual([
      { id: 'src/a', removed: 0 },
      { id: 'src/b', removed: 1 },
    ]);
    const hits = db
      .prepare(
        `SELECT s.id FROM skills_fts f JOIN skills s ON s.rowid = f.rowid WHERE skills_fts MATCH 'body'`,
      )
      .pluck()
      .all();
    expect(hits).toEqual(['src/a']);
    db.close();
  });

  it('marks a run left running by a crashed process as interrupted', () => {
    const path = freshDb();
    const w = IndexWriter.open({ path });
    w.registerModel(model);
    const crashed = w.beginRun({ mode: 'embedded', sources: [], modelId: model.id });
    w.close();
    const w2 = IndexWriter.open({ path });
    w2.beginRun({ mode: 'embedded', sources: [], modelId: model.id });
    w2.close();
    const db = new Database(path, { readonly: true });
    expect(db.prepare('SELECT status FROM index_runs WHERE id = ?').pluck().get(crashed)).toBe('interrupted');
    db.close();
  });

  it('lets only one writer open a database, and takes over the lock of a writer that died', () => {
    const path = freshDb();
    const first = IndexWriter.open({ path });
    expect(() => IndexWriter.open({ path })).toThrow(
      /another writer holds .* \(pid \d+ on .* since .*\): only one process may write/,
    );
    first.close();
    IndexWriter.open({ path }).close();
    // A lock left behind by a process that is gone (kill -9) does not block the next run.
    writeFileSync(
      `${path}.writer.lock`,
      JSON.stringify({ pid: 2 ** 22 + 12345, host: hostname(), since: 'then' }),
    );
    const next = IndexWriter.open({ path });
    next.close();
    expect(existsSync(`${path}.writer.lock`)).toBe(false);
  });

  it('refuses a model whose dim differs from the one recorded under its id', () => {
    const w = IndexWriter.open({ path: freshDb() });
    w.registerModel(model);
    expect(() => w.registerModel({ ...model, dim: 4 })).toThrow(/dim 3/);
    w.close();
  });
});
