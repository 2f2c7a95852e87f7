import Database from 'better-sqlite3';
import { cpSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureDefaultModel } from '../src/model/default-model.js';
import { loadModelSpec, type ModelSpec } from '../src/model/model-spec.js';
import { runEmbedded } from '../src/embedded/embedded-run.js';
import { blobToVector } from '../src/writer/vector-blob.js';
import { corpusDir, tempDir } from './helpers.js';

// A slice of the real corpus: clean skills, skills without a name, skills without a description.
const SLICE = ['anthropics__skills', 'ARPeeketi__claude-resume-kit', 'EveryInc__compound-engineering-plugin'];

let model: ModelSpec;
const tmp = tempDir();
beforeAll(async () => {
  model = loadModelSpec(await ensureDefaultModel());
});
afterAll(() => tmp.cleanup());

describe('embedded index run on a corpus slice with the real model', () => {
  const db = join(tmp.dir, 'slice.db');
  const sources = SLICE.map((s) => ({ root: join(corpusDir, s) }));

  it('indexes every skill or records why not, with unit 512-d vectors', async () => {
    const summary = await runEmbedded({ sources, db, model, threads: 2 });
    const c = summary.counts;
    expect(summary.status).toBe('completed');
    expect(c.seen).toBe(14 + 6 + 40);
    expect(c.indexed + c.failed).toBe(c.seen);
    expect(c.failed).toBe(0); // the two fixtures without a description are recovered from their body
    expect(c.warnings).toBeGreaterThanOrEqual(6 + 2); // the resume kit's skills have no name
    expect(c.embedded).toBeGreaterThan(0);
    expect(c.embedded).toBeLessThanOrEqual(c.indexed);

    const r = new Database(db, { readonly: true });
    expect(r.prepare('SELECT count(*) FROM skills WHERE removed_at IS NULL').pluck().get()).toBe(c.indexed);
    const vectors = r.prepare('SELECT dim, vector, model_id FROM skill_embeddings').all() as {
      dim: number;
      vector: Buffer;
      model_id: string;
    }[];
    expect(vectors).toHaveLength(c.indexed);
    for (const v of vectors) {
      expect(v.dim).toBe(512);
      expect(v.model_id).toBe(model.id);
      const x = blobToVector(v.vector);
      expect(Math.sqrt(x.reduce((s, a) => s + a * a, 0))).toBeCloseTo(1, 5);
    }
    const errors = r
      .prepare('SELECT path, code, message FROM index_errors WHERE run_id = ?')
      .all(summary.runId) as {
      path: string;
      code: string;
      message: string;
    }[];
    expect(errors).toEqual([]);
    const recovered = r
      .prepare(
        `SELECT path, description, warnings FROM skills WHERE path LIKE 'tests/fixtures/custom-paths/%'`,
      )
      .all() as { path: string; description: string; warnings: string }[];
    expect(recovered).toHaveLength(2);
    for (const s of recovered) {
      expect(JSON.parse(s.warnings).map((w: { code: string }) => w.code)).toContain(
        'W_RECOVERED_DESCRIPTION',
      );
      expect(s.description).toMatch(/^(Custom|Default) skill$/);
    }
    const noName = r
      .prepare(`SELECT name, warnings FROM skills WHERE source_id = 'ARPeeketi__claude-resume-kit'`)
      .all() as { name: string; warnings: string }[];
    expect(noName).toHaveLength(6);
    for (const s of noName) expect(JSON.parse(s.warnings)[0].code).toBe('W_MISSING_NAME');
    expect(
      r.prepare(`SELECT count(*) FROM skills_fts WHERE skills_fts MATCH 'resume'`).pluck().get(),
    ).toBeGreaterThan(0);
    expect(r.pragma('integrity_check', { simple: true })).toBe('ok');
    r.close();
  });

  it('embeds nothing and rewrites nothing on an unchanged second run', async () => {
    const before = new Database(db, { readonly: true });
    const indexedAt = before.prepare('SELECT id, indexed_at FROM skills ORDER BY id').all();
    before.close();
    const summary = await runEmbedded({ sources, db, model, threads: 2 });
    expect(summary.counts.embedded).toBe(0);
    expect(summary.counts.indexed).toBe(0);
    expect(summary.counts.unchanged).toBe(summary.counts.seen - summary.counts.failed);
    const after = new Database(db, { readonly: true });
    expect(after.prepare('SELECT id, indexed_at FROM skills ORDER BY id').all()).toEqual(indexedAt);
    // (Rejections repeated from their stat key: test/recovery-index.test.ts, the slice has none left.)
    expect(summary.counts.failed).toBe(0);
    after.close();
  });
});

describe('incremental runs on a folder that changes', () => {
  it('re-embeds only what changed, reuses identical texts, and tombstones what disappeared', async () => {
    const root = join(tmp.dir, 'changing');
    for (const s of ['skills/skill-creator', 'skills/mcp-builder', 'skills/webapp-testing']) {
      cpSync(join(corpusDir, 'anthropics__skills', s), join(root, s), { recursive: true });
    }
    // Two folders with byte-identical skills: their one text is embedded once.
    cpSync(join(root, 'skills/mcp-builder'), join(root, 'copy/mcp-builder'), { recursive: true });
    const db = join(tmp.dir, 'changing.db');
    const first = await runEmbedded({ sources: [{ root }], db, model, threads: 1 });
    expect(first.counts).toMatchObject({ seen: 4, indexed: 4, embedded: 3, failed: 0 });

    // Body-only change: content hash differs, text (name + description) does not → rewritten, not re-embedded.
    const mcp = join(root, 'skills/mcp-builder/SKILL.md');
    writeFileSync(mcp, `${(await import('node:fs')).readFileSync(mcp, 'utf8')}\n\nOne more line.\n`);
    rmSync(join(root, 'skills/webapp-testing'), { recursive: true });
    const second = await runEmbedded({ sources: [{ root }], db, model, threads: 1 });
    expect(second.counts).toMatchObject({ seen: 3, indexed: 1, unchanged: 2, embedded: 0, removed: 1 });

    const r = new Database(db, { readonly: true });
    const removed = r.prepare('SELECT id FROM skills WHERE removed_at IS NOT NULL').pluck().all();
    expect(removed).toEqual(['changing/skills/webapp-testing']);
    r.close();
  });

  it('survives transitions that change mtimes and inodes but not bytes (touch, cp -r and back)', async () => {
    const root = join(tmp.dir, 'same-bytes');
    for (const s of ['skills/skill-creator', 'skills/mcp-builder']) {
      cpSync(join(corpusDir, 'anthropics__skills', s), join(root, s), { recursive: true });
    }
    const db = join(tmp.dir, 'same-bytes.db');
    const first = await runEmbedded({ sources: [{ root }], db, model, threads: 1 });
    expect(first.counts).toMatchObject({ seen: 2, indexed: 2, failed: 0 });
    const statKeys = (): unknown => {
      const r = new Database(db, { readonly: true });
      const rows = r.prepare('SELECT id, stat_key FROM skills ORDER BY id').all();
      r.close();
      return rows;
    };
    const before = statKeys();

    // touch: new mtimes, same bytes. This once threw "Too many parameter values" on every later run.
    const later = new Date(Date.now() + 5_000);
    for (const s of ['skills/skill-creator', 'skills/mcp-builder']) {
      utimesSync(join(root, s, 'SKILL.md'), later, later);
    }
    const touched = await runEmbedded({ sources: [{ root }], db, model, threads: 1 });
    expect(touched.status).toBe('completed');
    expect(touched.counts).toMatchObject({ seen: 2, indexed: 0, unchanged: 2, embedded: 0, failed: 0 });
    const afterTouch = statKeys();
    expect(afterTouch).not.toEqual(before);

    // cp -r away and back: new inodes as well.
    cpSync(root, `${root}.bak`, { recursive: true });
    rmSync(root, { recursive: true });
    cpSync(`${root}.bak`, root, { recursive: true });
    const copied = await runEmbedded({ sources: [{ root }], db, model, threads: 1 });
    expect(copied.counts).toMatchObject({ seen: 2, indexed: 0, unchanged: 2, embedded: 0, failed: 0 });
    expect(statKeys()).not.toEqual(afterTouch);

    // And a run after those finds nothing to do at all.
    const again = await runEmbedded({ sources: [{ root }], db, model, threads: 1 });
    expect(again.counts).toMatchObject({ seen: 2, unchanged: 2, indexed: 0, failed: 0 });
  });
});
