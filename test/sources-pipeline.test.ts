import Database from 'better-sqlite3';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureDefaultModel } from '../src/model/default-model.js';
import { loadModelSpec, type ModelSpec } from '../src/model/model-spec.js';
import { runEmbedded } from '../src/embedded/embedded-run.js';
import type { SourceSpec } from '../src/producer/source.js';
import { corpusDir, tempDir } from './helpers.js';

const tmp = tempDir();
let model: ModelSpec;
beforeAll(async () => {
  model = loadModelSpec(await ensureDefaultModel());
});
afterAll(() => tmp.cleanup());

function git(cwd: string, ...args: string[]): string {
  return execFileSync(
    'git',
    ['-c', 'user.name=t', '-c', 'user.email=t@localhost', '-c', 'core.hooksPath=/dev/null', ...args],
    { cwd, encoding: 'utf8' },
  ).trim();
}

describe('a git source through the whole pipeline', () => {
  it('stores provenance, tombstones deleted skills, and keeps going when another source fails', async () => {
    const repo = join(tmp.dir, 'repo');
    mkdirSync(repo);
    git(repo, 'init', '-q', '-b', 'main');
    for (const s of ['skill-creator', 'mcp-builder', 'webapp-testing']) {
      cpSync(join(corpusDir, 'anthropics__skills', 'skills', s), join(repo, 'skills', s), {
        recursive: true,
      });
    }
    git(repo, 'add', '-A');
    git(repo, 'commit', '-q', '-m', 'three skills');
    const first = git(repo, 'rev-parse', 'HEAD');

    const db = join(tmp.dir, 'git.db');
    const sources: SourceSpec[] = [
      {
        id: 'team',
        kind: 'git',
        location: `file://${repo}`,
        trust: 'internal',
        exclude: ['skills/webapp-*'],
      },
      { id: 'gone', kind: 'git', location: 'git://127.0.0.1:1/nothing-here' },
    ];
    const run1 = await runEmbedded({ sources, db, model, threads: 1 });
    expect(run1.status).toBe('completed');
    expect(run1.counts).toMatchObject({ seen: 2, indexed: 2, failed: 0, removed: 0 });
    expect(run1.failedSources.map((f) => f.id)).toEqual(['gone']);
    // The pool thread's own CPU inside ORT (Linux reports a thread's CPU time; other platforms leave it out).
    if (process.platform === 'linux') expect(run1.modelCpuMs).toBeGreaterThan(0);
    else expect(run1.modelCpuMs).toBeUndefined();
    expect(run1.sources).toEqual([
      expect.objectContaining({ id: 'team', status: 'completed', commit: first }),
      expect.objectContaining({ id: 'gone', status: 'failed', error: expect.stringMatching(/127\.0\.0\.1/) }),
    ]);

    const r = new Database(db, { readonly: true });
    const rows = r
      .prepare(
        'SELECT id, source_kind, source_url, commit_id, blob_sha, trust FROM skills WHERE removed_at IS NULL ORDER BY id',
      )
      .all() as Record<string, string>[];
    expect(rows.map((x) => x.id)).toEqual(['team/skills/mcp-builder', 'team/skills/skill-creator']);
    const blob = git(repo, 'rev-parse', 'HEAD:skills/mcp-builder/SKILL.md');
    expect(rows[0]).toMatchObject({
      source_kind: 'git',
      commit_id: first,
      blob_sha: blob,
      trust: 'internal',
    });
    expect(r.prepare(`SELECT last_commit FROM sources WHERE id = 'team'`).pluck().get()).toBe(first);
    expect(r.prepare(`SELECT count(*) FROM sources WHERE id = 'gone'`).pluck().get()).toBe(0);
    r.close();

    // Unchanged repository: nothing read, nothing embedded.
    const run2 = await runEmbedded({ sources: sources.slice(0, 1), db, model, threads: 1 });
    expect(run2.counts).toMatchObject({ seen: 2, unchanged: 2, indexed: 0, embedded: 0 });
    expect(run2.modelCpuMs ?? 0).toBe(0);

    // A deleted skill becomes a tombstone.
    rmSync(join(repo, 'skills', 'mcp-builder'), { recursive: true });
    git(repo, 'commit', '-q', '-am', 'drop mcp-builder');
    const run3 = await runEmbedded({ sources: sources.slice(0, 1), db, model, threads: 1 });
    expect(run3.counts).toMatchObject({ seen: 1, unchanged: 1, removed: 1, embedded: 0 });
    const after = new Database(db, { readonly: true });
    expect(after.prepare('SELECT id FROM skills WHERE removed_at IS NOT NULL').pluck().all()).toEqual([
      'team/skills/mcp-builder',
    ]);
    after.close();
  });
});
