import Database from 'better-sqlite3';
import { execFile } from 'node:child_process';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureDefaultModel } from '../src/model/default-model.js';
import { loadModelSpec } from '../src/model/model-spec.js';
import { runEmbedded } from '../src/embedded/embedded-run.js';
import { openIndex, type SearchMode, type SkillIndex } from '../src/reader/index.js';
import { DEFAULT_OPEN_OPTIONS } from '../src/reader/open-index.js';
import { SCHEMA_VERSION } from '../src/writer/schema.js';
import { cliPath, corpusDir, repoRoot, tempDir } from './helpers.js';

const SLICE = ['anthropics__skills', 'obra__superpowers', 'trailofbits__skills'];
const MODES: SearchMode[] = ['fts', 'vector', 'hybrid'];

// Paraphrases (not the skills' own wording where avoidable), each checked against the skill it must find.
const QUERIES: [query: string, name: string][] = [
  ['make an animated picture to post in a chat channel', 'slack-gif-creator'], // "animated GIFs for Slack"
  ['write the failing test first, then the code', 'test-driven-development'],
  ['detect timing leaks in crypto code', 'constant-time-analysis'], // "timing side-channel vulnerabilities"
  ['build a server that lets an LLM call external services', 'mcp-builder'],
  ['delete old local git branches that were already merged', 'git-cleanup'],
];

const tmp = tempDir('skillsmith-reader-');
const db = join(tmp.dir, 'slice.db');
let index: SkillIndex;
let failedInRun = 0;

beforeAll(async () => {
  const model = loadModelSpec(await ensureDefaultModel());
  const summary = await runEmbedded({
    sources: SLICE.map((s) => ({ root: join(corpusDir, s) })),
    db,
    model,
    threads: 2,
  });
  expect(summary.counts.indexed).toBe(108);
  failedInRun = summary.counts.failed;
  index = await openIndex(db);
});
afterAll(async () => {
  await index?.close();
  tmp.cleanup();
});

/** A copy of the index to damage. */
function copyOf(name: string): string {
  const path = join(tmp.dir, name);
  // VACUUM INTO reads through the WAL (a plain file copy could miss commits not yet checkpointed).
  const r = new Database(db, { readonly: true });
  r.prepare('VACUUM INTO ?').run(path);
  r.close();
  return path;
}

describe('searching an index of a corpus slice', () => {
  it('reports the schema version and the model of the vectors', () => {
    expect(index.schemaVersion).toBe(SCHEMA_VERSION);
    expect(index.model).toEqual({ id: 'use-lite-en-int8@0.2.0', dim: 512 });
  });

  for (const mode of MODES) {
    it.each(QUERIES)(`${mode}: "%s" finds %s in the top 5`, async (query, name) => {
      const results = await index.search(query, { mode, k: 5 });
      expect(results.map((r) => r.name)).toContain(name);
    });
  }

  it('returns at most k results, one per skill, best first, with the ranks of the lists they came from', async () => {
    for (const mode of MODES) {
      const results = await index.search('security review of code', { mode, k: 7 });
      expect(results).toHaveLength(7);
      expect(new Set(results.map((r) => r.id)).size).toBe(7);
      const scores = results.map((r) => r.score);
      expect(scores).toEqual([...scores].sort((a, b) => b - a));
      for (const r of results) {
        expect(r.id).toBe(`${r.source}/${r.path}`);
        expect(r.description.length).toBeGreaterThan(0);
        if (mode === 'fts') expect(r.vectorRank).toBeUndefined();
        if (mode === 'vector') expect(r.ftsRank).toBeUndefined();
        if (mode === 'hybrid') expect((r.ftsRank ?? r.vectorRank) !== undefined).toBe(true);
      }
      const top = results[0];
      if (mode === 'fts') expect(top?.ftsRank).toBe(1);
      if (mode === 'vector') expect(top?.vectorRank).toBe(1);
      // Weighted fusion: the winner is near the head of at least one list.
      if (mode === 'hybrid')
        expect(Math.min(top?.ftsRank ?? Infinity, top?.vectorRank ?? Infinity)).toBeLessThanOrEqual(3);
    }
  });

  it('never throws on odd query text', async () => {
    for (const mode of MODES) {
      for (const q of [
        '',
        '   ',
        '"(',
        'NEAR(',
        '-',
        '🔥🔥',
        '机器学习',
        'name:fuzz*',
        "'; DROP TABLE skills; --",
      ]) {
        const results = await index.search(q, { mode });
        expect(Array.isArray(results)).toBe(true);
      }
      expect(await index.search('', { mode })).toEqual([]);
    }
  });

  it('filters by source, path prefix and license in every mode', async () => {
    for (const mode of MODES) {
      const one = await index.search('review code', {
        mode,
        k: 20,
        filters: { sourceId: 'obra__superpowers' },
      });
      expect(one.length).toBeGreaterThan(0);
      expect(one.every((r) => r.source === 'obra__superpowers')).toBe(true);

      const two = await index.search('review code', {
        mode,
        k: 50,
        filters: { sourceId: ['obra__superpowers', 'anthropics__skills'] },
      });
      expect(two.some((r) => r.source === 'anthropics__skills')).toBe(true);
      expect(two.every((r) => r.source !== 'trailofbits__skills')).toBe(true);

      const fuzzers = await index.search('fuzzing', {
        mode,
        k: 50,
        filters: { pathPrefix: 'plugins/testing-handbook-skills/' },
      });
      expect(fuzzers.length).toBeGreaterThan(3);
      expect(fuzzers.every((r) => r.path.startsWith('plugins/testing-handbook-skills/'))).toBe(true);

      // Only anthropics' skills carry this license text; the filter ignores ASCII case.
      const licensed = await index.search('design', {
        mode,
        k: 50,
        filters: { license: 'complete terms in license.txt' },
      });
      expect(licensed.length).toBeGreaterThan(0);
      expect(licensed.every((r) => r.source === 'anthropics__skills')).toBe(true);

      expect(await index.search('design', { mode, filters: { sourceId: 'no-such-source' } })).toEqual([]);
    }
  });

  it('rejects bad search options with a message naming the option', async () => {
    await expect(index.search('x', { k: 0 })).rejects.toThrow(/search option k/);
    await expect(index.search('x', { mode: 'semantic' as SearchMode })).rejects.toMatchObject({
      code: 'E_BAD_OPTION',
      message: expect.stringMatching(/search option mode/),
    });
    await expect(index.search('x', { filters: { sourceId: [] } })).rejects.toThrow(/filters.sourceId/);
  });

  it('returns a whole skill by id with its front matter and warnings parsed', () => {
    const skill = index.getSkill('anthropics__skills/skills/mcp-builder');
    expect(skill).toMatchObject({
      sourceId: 'anthropics__skills',
      path: 'skills/mcp-builder',
      name: 'mcp-builder',
      removedAt: null,
    });
    expect(skill?.frontMatter.name).toBe('mcp-builder');
    expect(skill?.license).toBe(skill?.frontMatter.license);
    expect(Array.isArray(skill?.warnings)).toBe(true);
    expect(skill?.body).toMatch(/MCP/);
    expect(skill?.provenance).toMatchObject({ kind: 'dir', ref: null, commit: null, blobSha: null });
    expect(skill?.provenance.url).toMatch(/^file:\/\/.*mcp-builder/);
    expect(index.getSkill('anthropics__skills/skills/nope')).toBeUndefined();
  });

  it('lists sources with live and removed counts and when they were last indexed', () => {
    const sources = index.listSources();
    expect(sources.map((s) => [s.id, s.skills, s.removed])).toEqual([
      ['anthropics__skills', 14, 0],
      ['obra__superpowers', 14, 0],
      ['trailofbits__skills', 80, 0],
    ]);
    for (const s of sources) expect(Number.isNaN(Date.parse(s.lastIndexedAt ?? ''))).toBe(false);
  });

  it('reports its status from one snapshot: models, sources, the latest runs and their rejections', () => {
    const st = index.status();
    expect(st.models).toEqual([{ id: 'use-lite-en-int8@0.2.0', dim: 512, vectors: 108 }]);
    expect(st.sources.map((s) => [s.id, s.kind, s.live, s.removed])).toEqual([
      ['anthropics__skills', 'dir', 14, 0],
      ['obra__superpowers', 'dir', 14, 0],
      ['trailofbits__skills', 'dir', 80, 0],
    ]);
    expect(st.runs).toEqual([expect.objectContaining({ id: 1, mode: 'embedded', status: 'completed' })]);
    expect(st.runs[0]?.counts).toMatchObject({ indexed: 108, failed: failedInRun });
    expect(st.lastRunErrors.reduce((n, e) => n + e.count, 0)).toBe(failedInRun);
    expect(() => index.status({ runs: 0 })).toThrow(/runs must be an integer ≥ 1/);
  });

  // Last in this block: it tombstones a skill in the shared index.
  it('never returns a skill tombstoned after the reader opened (the vector matrix reloads)', async () => {
    const id = 'anthropics__skills/skills/slack-gif-creator';
    const query = 'make an animated GIF for Slack';
    for (const mode of MODES) expect((await index.search(query, { mode }))[0]?.id).toBe(id);

    const writer = new Database(db);
    writer.pragma('busy_timeout = 5000');
    writer.prepare(`UPDATE skills SET removed_at = ? WHERE id = ?`).run(new Date().toISOString(), id);
    writer.close();

    for (const mode of MODES) {
      const results = await index.search(query, { mode, k: 50 });
      expect(results.map((r) => r.id)).not.toContain(id);
    }
    expect(index.getSkill(id)).toBeUndefined();
    expect(index.getSkill(id, { includeRemoved: true })?.removedAt).toEqual(expect.any(String));
    expect(index.listSources()[0]).toMatchObject({ id: 'anthropics__skills', skills: 13, removed: 1 });
  });
  it('picks up a re-embedded vector on its next search, keeping the unchanged ones', async () => {
    const query = 'make an animated GIF for Slack';
    const before = await index.search(query, { mode: 'vector', k: 3 });
    const target = before[2]!.id;
    expect(before[0]!.id).not.toBe(target);
    // Another process re-embeds one skill: give it the query's own vector and a new text hash.
    const q = (await index.search(query, { mode: 'vector', k: 1 }))[0]!;
    const writer = new Database(db);
    writer.pragma('busy_timeout = 5000');
    const best = writer
      .prepare(`SELECT vector FROM skill_embeddings WHERE skill_id = ?`)
      .pluck()
      .get(q.id) as Buffer;
    writer
      .prepare(`UPDATE skill_embeddings SET vector = ?, text_hash = 'changed' WHERE skill_id = ?`)
      .run(best, target);
    writer.close();
    const after = await index.search(query, { mode: 'vector', k: 3 });
    // The target now has the best skill's vector: it ties for first, everything else stays where it was.
    expect(
      after
        .slice(0, 2)
        .map((r) => r.id)
        .sort(),
    ).toEqual([q.id, target].sort());
    expect(after[0]!.score).toBeCloseTo(before[0]!.score, 6);
  });

  it('sees skills an index run adds while the reader stays open, without blocking the run', async () => {
    const root = join(tmp.dir, 'extra');
    cpSync(
      join(corpusDir, 'wshobson__agents/plugins/data-engineering/skills/spark-optimization'),
      join(root, 'spark'),
      {
        recursive: true,
      },
    );
    const query = 'speed up slow Apache Spark jobs';
    expect((await index.search(query, { mode: 'vector' })).map((r) => r.source)).not.toContain('extra');
    const model = loadModelSpec(await ensureDefaultModel());
    const summary = await runEmbedded({ sources: [{ root }], db, model, threads: 1 });
    expect(summary).toMatchObject({ status: 'completed', counts: { indexed: 1 } });
    for (const mode of MODES) expect((await index.search(query, { mode }))[0]?.id).toBe('extra/spark');
    expect(index.listSources().map((s) => s.id)).toContain('extra');
  });
});

describe('opening files that are not a usable index', () => {
  it('refuses a schema newer than the reader', async () => {
    const path = copyOf('newer.db');
    const w = new Database(path);
    w.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    w.close();
    await expect(openIndex(path)).rejects.toMatchObject({
      code: 'E_DATABASE',
      message: expect.stringContaining(
        `schema version ${SCHEMA_VERSION + 1} is newer than this reader understands (${SCHEMA_VERSION}): upgrade`,
      ),
    });
  });

  it('refuses a file that is not SQLite, an SQLite file without the schema, and a missing file', async () => {
    const text = join(tmp.dir, 'notes.txt');
    writeFileSync(text, 'just some text, long enough to look like a header of something\n'.repeat(20));
    await expect(openIndex(text)).rejects.toThrow(/not a skillsmith index/);

    const other = join(tmp.dir, 'other.db');
    const o = new Database(other);
    o.exec('CREATE TABLE t (x)');
    o.close();
    await expect(openIndex(other)).rejects.toMatchObject({
      code: 'E_DATABASE',
      message: expect.stringMatching(/not a skillsmith index/),
    });

    await expect(openIndex(join(tmp.dir, 'missing.db'))).rejects.toMatchObject({ code: 'E_DATABASE' });
  });

  it('asks for the model folder when the vectors are not from the default model', async () => {
    const path = copyOf('custom-model.db');
    const w = new Database(path);
    w.exec(`PRAGMA foreign_keys = OFF;
            UPDATE embedding_models SET model_id = 'custom-minilm';
            UPDATE skill_embeddings SET model_id = 'custom-minilm';`);
    w.close();
    const custom = await openIndex(path);
    try {
      expect(custom.model).toEqual({ id: 'custom-minilm', dim: 512 });
      expect((await custom.search('fuzzing', { mode: 'fts' })).length).toBeGreaterThan(0);
      await expect(custom.search('fuzzing', { mode: 'vector' })).rejects.toMatchObject({
        code: 'E_MODEL',
        message: expect.stringMatching(/custom-minilm.*pass its folder as model/),
      });
    } finally {
      await custom.close();
    }
    await expect(openIndex(path, { modelId: 'nope' })).rejects.toMatchObject({ code: 'E_BAD_OPTION' });
    await expect(openIndex(path, { busyTimeoutMs: -1 })).rejects.toThrow(/busyTimeoutMs/);
  });
});

describe('skillsmith-index search', () => {
  const run = promisify(execFile);

  it('prints one JSON object with results, mode, k and model', async () => {
    const { stdout } = await run(process.execPath, [
      cliPath,
      'search',
      'write the failing test first',
      '--db',
      db,
      '--k',
      '3',
      '--json',
    ]);
    const out = JSON.parse(stdout) as {
      results: Record<string, unknown>[];
      mode: string;
      k: number;
      model: unknown;
    };
    expect(out.mode).toBe('hybrid');
    expect(out.k).toBe(3);
    expect(out.model).toEqual({ id: 'use-lite-en-int8@0.2.0', dim: 512 });
    expect(out.results).toHaveLength(3);
    expect(Object.keys(out.results[0] ?? {}).sort()).toEqual(
      ['description', 'id', 'name', 'path', 'score', 'source', 'warnings'].sort(),
    );
    expect(out.results.map((r) => r.name)).toContain('test-driven-development');
  });

  it('prints readable results and filters by --source', async () => {
    const { stdout } = await run(process.execPath, [
      cliPath,
      'search',
      'fuzz a rust crate',
      '--db',
      db,
      '--mode',
      'fts',
      '--source',
      'trailofbits__skills',
    ]);
    expect(stdout).toMatch(/^ 1\. \S+ {2}\d+\.\d{3} {2}trailofbits__skills {2}plugins\//m);
    expect(stdout).not.toMatch(/obra__superpowers|anthropics__skills/);
  });

  it('leaves out warned skills with --strict or --exclude-warning, and prints their warning codes', async () => {
    const search = async (...flags: string[]): Promise<{ name: string; warnings: string[] }[]> => {
      const { stdout } = await run(process.execPath, [
        cliPath,
        'search',
        'claude api template skill',
        '--db',
        db,
        '--mode',
        'fts',
        '--k',
        '100',
        '--json',
        ...flags,
      ]);
      return (JSON.parse(stdout) as { results: { name: string; warnings: string[] }[] }).results;
    };
    const all = await search();
    expect(all.find((r) => r.name === 'claude-api')?.warnings).toEqual(['W_LONG_DESCRIPTION']);
    expect(all.find((r) => r.name === 'template-skill')?.warnings).toEqual(['W_NAME_MISMATCH']);
    const strict = await search('--strict', '--fold');
    expect(strict.length).toBeGreaterThan(0);
    expect(strict.every((r) => r.warnings.length === 0)).toBe(true);
    const noMismatch = await search('--exclude-warning', 'W_NAME_MISMATCH');
    expect(noMismatch.map((r) => r.name)).toContain('claude-api');
    expect(noMismatch.map((r) => r.name)).not.toContain('template-skill');
  });

  it('loads neither zod nor the model-folder check for a one-shot search (start-up cost, issue 13)', async () => {
    const trace = fileURLToPath(new URL('./fixtures/trace-modules.mjs', import.meta.url));
    const bundleMeta = JSON.parse(readFileSync(join(repoRoot, 'dist', 'bin.meta.json'), 'utf8')) as {
      outputs: Record<string, { inputs: Record<string, unknown> }>;
    };
    for (const mode of ['fts', 'hybrid']) {
      const { stdout, stderr } = await run(process.execPath, [
        '--import',
        trace,
        cliPath,
        'search',
        'write the failing test first',
        '--db',
        db,
        '--mode',
        mode,
      ]);
      expect(stdout).toMatch(/^ 1\. /m);
      // The CLI is bundled (dist/bin): a loaded file stands for the sources esbuild put in it.
      const loaded = stderr
        .split('\n')
        .filter((l) => l.startsWith('module: file://'))
        .flatMap((l) => {
          const file = relative(repoRoot, fileURLToPath(l.slice('module: '.length)));
          return [file, ...Object.keys(bundleMeta.outputs[file]?.inputs ?? {})];
        });
      expect(loaded).toContain('dist/src/reader/skill-index.js');
      expect(loaded.filter((l) => /(^|\/)node_modules\/zod\/|model-spec\.js/.test(l))).toEqual([]);
    }
  });

  it('opens without options exactly as with the option schema’s defaults (no zod needed for none)', async () => {
    const { parseOpenOptions } = await import('../src/reader/open-options.js');
    expect(parseOpenOptions({})).toEqual(DEFAULT_OPEN_OPTIONS);
  });

  it('refuses an empty --source or --license like any bad option', async () => {
    for (const flag of ['--source', '--license', '--exclude-warning']) {
      const err = await run(process.execPath, [cliPath, 'search', 'x', '--db', db, flag, '']).catch(
        (e: { code: number; stderr: string }) => e,
      );
      expect(err).toMatchObject({ code: 2, stderr: expect.stringContaining(`${flag} must not be empty`) });
    }
  });

  it('refuses a bad --mode with one line naming the flag', async () => {
    const err = await run(process.execPath, [cliPath, 'search', 'x', '--db', db, '--mode', 'semantic']).catch(
      (e: { code: number; stderr: string }) => e,
    );
    expect(err).toMatchObject({ code: 2 });
    const stderr = (err as { stderr: string }).stderr.trim();
    expect(stderr.split('\n')).toHaveLength(1);
    expect(stderr).toMatch(/--mode must be one of hybrid, fts, vector \(got semantic\)/);
  });
});
