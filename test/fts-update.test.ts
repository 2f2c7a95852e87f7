import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { SkillRecord } from '../src/shared/records.js';
import { IndexWriter } from '../src/writer/index-writer.js';
import { tempDir } from './helpers.js';

// Found by the model-based walk: an updated skill dropped out of skills_fts, because SQLite fires the triggers
// of one event newest first and v1's "insert new" trigger ran before its "delete old" one.
const tmp = tempDir();
afterAll(() => tmp.cleanup());

function skill(id: string, description: string, body: string): SkillRecord {
  return {
    id: `src/${id}`,
    sourceId: 'src',
    path: id,
    name: id,
    description,
    body,
    frontMatter: {},
    license: null,
    allowedTools: null,
    warnings: [],
    contentHash: `${description}|${body}`,
  };
}

function write(path: string, skills: SkillRecord[]): void {
  const w = IndexWriter.open({ path });
  const runId = w.beginRun({ mode: 'embedded', sources: [], modelId: 'm' });
  w.writeBatch({ runId, skills, embeddings: [], errors: [], seen: [] });
  w.finishRun(runId, 'completed', {
    seen: 0,
    indexed: 0,
    unchanged: 0,
    removed: 0,
    failed: 0,
    embedded: 0,
    warnings: 0,
  });
  w.close();
}

const ftsIds = (path: string, match: string): string[] => {
  const db = new Database(path, { readonly: true });
  try {
    return db
      .prepare(
        'SELECT s.id FROM skills_fts JOIN skills s ON s.rowid = skills_fts.rowid WHERE skills_fts MATCH ?',
      )
      .pluck()
      .all(match) as string[];
  } finally {
    db.close();
  }
};

/** Whether the external-content index agrees with its table (FTS5 reports it malformed otherwise). */
function ftsIntact(path: string): boolean {
  const db = new Database(path);
  try {
    db.exec(`INSERT INTO skills_fts(skills_fts, rank) VALUES ('integrity-check', 1)`);
    return true;
  } catch {
    return false;
  } finally {
    db.close();
  }
}

describe('full-text index after updates', () => {
  it('finds an updated skill by its new words, not its old ones', () => {
    const db = join(tmp.dir, 'update.db');
    write(db, [skill('a', 'converts invoices', 'first body')]);
    write(db, [skill('a', 'renders diagrams', 'second body')]);
    expect(ftsIds(db, 'diagrams')).toEqual(['src/a']);
    expect(ftsIds(db, 'invoices')).toEqual([]);
    expect(ftsIntact(db)).toBe(true);
  });

  it('the v4 migration brings back skills the old triggers dropped', () => {
    const db = join(tmp.dir, 'migrate.db');
    write(db, [skill('a', 'converts invoices', 'first body')]);
    // Put the file back to v3 with the old trigger pair, and let it lose an updated skill.
    const old = new Database(db);
    old.exec(`
      DROP TRIGGER skills_fts_update;
      CREATE TRIGGER skills_fts_update_old AFTER UPDATE OF name, description, body, removed_at ON skills
        WHEN old.removed_at IS NULL BEGIN
        INSERT INTO skills_fts(skills_fts, rowid, name, description, body)
          VALUES ('delete', old.rowid, old.name, old.description, old.body);
      END;
      CREATE TRIGGER skills_fts_update_new AFTER UPDATE OF name, description, body, removed_at ON skills
        WHEN new.removed_at IS NULL BEGIN
        INSERT INTO skills_fts(rowid, name, description, body) VALUES (new.rowid, new.name, new.description, new.body);
      END;
      UPDATE skills SET description = 'renders diagrams' WHERE id = 'src/a';
    `);
    old.pragma('user_version = 3');
    old.close();
    expect(ftsIntact(db)).toBe(false);
    IndexWriter.open({ path: db }).close(); // migrates
    expect(ftsIntact(db)).toBe(true);
    expect(ftsIds(db, 'diagrams')).toEqual(['src/a']);
    expect(ftsIds(db, 'invoices')).toEqual([]);
  });
});
