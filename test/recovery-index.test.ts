import Database from 'better-sqlite3';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureDefaultModel } from '../src/model/default-model.js';
import { loadModelSpec, type ModelSpec } from '../src/model/model-spec.js';
import { runEmbedded } from '../src/embedded/embedded-run.js';
import { openIndex } from '../src/reader/index.js';
import { WARNING_CODES } from '../src/shared/errors.js';
import { PARSE_RULES_VERSION } from '../src/shared/parse-rules.js';
import type { SkillRecord } from '../src/shared/records.js';
import { IndexWriter } from '../src/writer/index-writer.js';
import { migrate, SCHEMA_VERSION } from '../src/writer/schema.js';
import { tempDir } from './helpers.js';

const tmp = tempDir('skillsmith-recovery-');
afterAll(() => tmp.cleanup());

/** Writes `files` (path → text) under a fresh folder and returns it. */
function folder(name: string, files: Record<string, string>): string {
  const root = join(tmp.dir, name);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

const SKILLS = {
  'clean/SKILL.md':
    '---\nname: clean\ndescription: A skill that follows every rule.\n---\n# Clean\n\nBody.\n',
  'colon/SKILL.md':
    '---\nname: colon\ndescription: Pings a host (IP: 10.0.0.1) and reports latency.\n---\nBody.\n',
  'titled/SKILL.md': '# Titled skill\n\nTurns rough notes into a tidy changelog.\n',
  'nothing/SKILL.md': 'No title, no front matter.\n',
};

describe('re-indexing when the parse rules change', () => {
  let model: ModelSpec;
  beforeAll(async () => {
    model = loadModelSpec(await ensureDefaultModel());
  });

  it('re-parses skills and rejections made under other rules, though their bytes did not change', async () => {
    const root = folder('rules', SKILLS);
    const db = join(tmp.dir, 'rules.db');
    const first = await runEmbedded({ sources: [{ root }], db, model, threads: 1 });
    expect(first.counts).toMatchObject({ seen: 4, indexed: 3, failed: 1, warnings: 2 });

    // Unchanged files, same rules: nothing is read again (stat keys), the rejection is repeated from its row.
    const same = await runEmbedded({ sources: [{ root }], db, model, threads: 1 });
    expect(same.counts).toMatchObject({ seen: 4, indexed: 0, unchanged: 3, failed: 1, embedded: 0 });

    // Make the rows look like an older parser wrote them: no warnings, and the recovered skills unknown
    // (as if rejected by the old rules). The next run must parse every skill again.
    const w = new Database(db);
    w.prepare(`UPDATE skills SET parse_version = 1, warnings = '[]', spec_valid = 1, dup_key = NULL`).run();
    w.prepare(`UPDATE index_errors SET parse_version = 1`).run();
    w.close();
    const after = await runEmbedded({ sources: [{ root }], db, model, threads: 1 });
    // Every skill is rewritten under the new rules; their texts did not change, so no vector is recomputed.
    expect(after.counts).toMatchObject({ seen: 4, indexed: 3, unchanged: 0, failed: 1, embedded: 0 });

    const r = new Database(db, { readonly: true });
    const rows = r
      .prepare('SELECT path, spec_valid, parse_version, warnings, dup_key FROM skills ORDER BY path')
      .all() as {
      path: string;
      spec_valid: number;
      parse_version: number;
      warnings: string;
      dup_key: string;
    }[];
    expect(rows.map((x) => [x.path, x.spec_valid, x.parse_version, JSON.parse(x.warnings).length])).toEqual([
      ['clean', 1, PARSE_RULES_VERSION, 0],
      ['colon', 0, PARSE_RULES_VERSION, 1],
      ['titled', 0, PARSE_RULES_VERSION, 1],
    ]);
    expect(rows.every((x) => /^[0-9a-f]{32}$/.test(x.dup_key))).toBe(true);
    const errors = r
      .prepare('SELECT path, code, parse_version FROM index_errors WHERE run_id = ?')
      .all(after.runId);
    expect(errors).toEqual([
      { path: 'nothing', code: 'E_NO_FRONT_MATTER', parse_version: PARSE_RULES_VERSION },
    ]);
    r.close();
  });
});

describe('schema v3 migration', () => {
  it('migrates a v2 file in place: old rows keep their data, spec_valid from their warnings, parse_version 1', async () => {
    const path = join(tmp.dir, 'v2.db');
    const v2 = new Database(path);
    expect(migrate(v2, 2)).toBe(2);
    const insert = v2.prepare(
      `INSERT INTO skills (id, source_id, path, content_hash, first_seen_run, last_seen_run, indexed_at, name,
                           warnings, description, front_matter, body)
       VALUES (?, 'src', ?, 'h', 1, 1, '2024-01-01T00:00:00Z', ?, ?, 'd', '{}', 'b')`,
    );
    insert.run('src/ok', 'ok', 'ok', '[]');
    insert.run('src/warned', 'warned', 'warned', '[{"code":"W_MISSING_NAME","message":"m"}]');
    v2.prepare(
      `INSERT INTO index_runs (mode, sources, model_id, started_at, status) VALUES ('embedded', '[]', 'm', 'x', 'completed')`,
    ).run();
    v2.prepare(
      `INSERT INTO index_errors (run_id, source_id, path, code, message, stat_key, created_at)
       VALUES (1, 'src', 'bad', 'E_INVALID_YAML', 'm', 'k', 'x')`,
    ).run();
    v2.close();

    // A v3 reader reads the v2 file as it is (strict works from the warnings; fold needs v3).
    const old = await openIndex(path);
    expect(old.schemaVersion).toBe(2);
    expect((await old.search('d', { mode: 'fts', filters: { strict: true } })).map((x) => x.id)).toEqual([
      'src/ok',
    ]);
    await expect(old.search('d', { mode: 'fts', fold: true })).rejects.toThrow(
      /fold needs a schema v3 index/,
    );
    await old.close();

    IndexWriter.open({ path }).close();
    const r = new Database(path, { readonly: true });
    expect(r.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    expect(SCHEMA_VERSION).toBeGreaterThanOrEqual(3);
    expect(
      r.prepare('SELECT id, name, spec_valid, dup_key, parse_version FROM skills ORDER BY id').all(),
    ).toEqual([
      { id: 'src/ok', name: 'ok', spec_valid: 1, dup_key: null, parse_version: 1 },
      { id: 'src/warned', name: 'warned', spec_valid: 0, dup_key: null, parse_version: 1 },
    ]);
    expect(r.prepare('SELECT path, parse_version FROM index_errors').all()).toEqual([
      { path: 'bad', parse_version: 1 },
    ]);
    // The incremental check's index still covers what it reads.
    const plan = r
      .prepare(
        `EXPLAIN QUERY PLAN SELECT id, content_hash, stat_key, removed_at, parse_version FROM skills WHERE source_id = ?`,
      )
      .all('src') as { detail: string }[];
    expect(plan.map((p) => p.detail).join(' ')).toMatch(/COVERING INDEX skills_source/);
    r.close();
  });
});

/** A skill record as the writer stores it, with the given warnings and body. */
function record(
  id: string,
  name: string,
  description: string,
  body: string,
  warnings: SkillRecord['warnings'] = [],
): SkillRecord {
  return {
    id: `src/${id}`,
    sourceId: 'src',
    path: id,
    name,
    description,
    body,
    frontMatter: {},
    license: null,
    allowedTools: null,
    warnings,
    contentHash: id,
    parseVersion: PARSE_RULES_VERSION,
  };
}

describe('reader filters over recovered and warned skills', () => {
  const skeleton = '# T\n\n## Use\n\n```\nx\n```\n\n## More\n';
  const path = join(tmp.dir, 'filters.db');
  beforeAll(() => {
    const w = IndexWriter.open({ path });
    const runId = w.beginRun({ mode: 'embedded', sources: [], modelId: 'm' });
    w.writeBatch({
      runId,
      skills: [
        record('tides', 'tides', 'Predict ocean tides for harbours.', `${skeleton}English body`),
        // A translated copy: same name and skeleton, other words.
        record('docs/zh/tides', 'tides', 'Predict ocean tides (translated).', `${skeleton}中文正文`),
        record('tidy', 'tidy', 'Tidy ocean tides notes.', 'plain', [
          { code: WARNING_CODES.RECOVERED_NO_FRONT_MATTER, message: 'm' },
        ]),
        record('tide-chart', 'tide-chart', 'Draw ocean tides charts.', 'plain', [
          { code: WARNING_CODES.NAME_MISMATCH, message: 'm' },
        ]),
      ],
      embeddings: [],
      errors: [],
      seen: [],
    });
    w.close();
  });

  const ids = (rs: { id: string }[]): string[] => rs.map((x) => x.id).sort();

  it.each(['fts', 'hybrid'] as const)(
    'keeps spec-valid skills only with strict, and drops given warning codes (%s)',
    async (mode) => {
      const index = await openIndex(path);
      try {
        const all = await index.search('ocean tides', { mode });
        expect(all).toHaveLength(4);
        expect(all.find((x) => x.id === 'src/tidy')?.warnings).toEqual(['W_RECOVERED_NO_FRONT_MATTER']);
        expect(ids(await index.search('ocean tides', { mode, filters: { strict: true } }))).toEqual([
          'src/docs/zh/tides',
          'src/tides',
        ]);
        const noRecovered = await index.search('ocean tides', {
          mode,
          filters: { excludeWarnings: ['W_RECOVERED_NO_FRONT_MATTER'] },
        });
        expect(ids(noRecovered)).toEqual(['src/docs/zh/tides', 'src/tide-chart', 'src/tides']);
      } finally {
        await index.close();
      }
    },
  );

  it('folds near-identical copies into their best-ranked member', async () => {
    const index = await openIndex(path);
    try {
      const folded = await index.search('ocean tides', { mode: 'fts', fold: true });
      expect(folded).toHaveLength(3);
      expect(folded.filter((x) => x.name === 'tides')).toHaveLength(1);
      const unfolded = await index.search('ocean tides', { mode: 'fts' });
      const best = unfolded.find((x) => x.name === 'tides');
      expect(folded.find((x) => x.name === 'tides')?.id).toBe(best?.id);
      const a = index.getSkill('src/tides');
      const b = index.getSkill('src/docs/zh/tides');
      expect(a?.dupKey).toBe(b?.dupKey);
      expect(a?.specValid).toBe(true);
      expect(index.getSkill('src/tidy')?.specValid).toBe(false);
      expect(index.getSkill('src/tidy')?.dupKey).not.toBe(a?.dupKey);
    } finally {
      await index.close();
    }
  });

  it('rejects a strict filter that is not a boolean, naming the option', async () => {
    const index = await openIndex(path);
    try {
      await expect(index.search('x', { filters: { strict: 'yes' as unknown as boolean } })).rejects.toThrow(
        /search option filters\.strict/,
      );
    } finally {
      await index.close();
    }
  });
});
