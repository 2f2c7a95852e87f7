import Database from 'better-sqlite3';
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cliPath, corpusDir, repoRoot, tempDir } from './helpers.js';
import { waitFor } from './support/roles.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

interface ReaderReport {
  queries: number;
  errors: string[];
  partialBatches: number;
  liveDecreased: number;
  maxLive: number;
  maxWalBytes: number;
}

function index(root: string, db: string): { counts: Record<string, number> } {
  const r = spawnSync(
    process.execPath,
    [cliPath, 'index', root, '--db', db, '--batch-size', '32', '--json'],
    {
      encoding: 'utf8',
      timeout: 300_000,
    },
  );
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as { counts: Record<string, number> };
}

describe('a reader process querying while the indexer writes', () => {
  it('never sees an error, a partial batch or a missing row, and the WAL stays bounded', async () => {
    // A writable copy of part of the corpus, so the re-index has real changes to upsert.
    const root = join(tmp.dir, 'skills');
    for (const repo of ['openclaw__skills', 'wshobson__agents']) {
      cpSync(join(corpusDir, repo), join(root, repo), { recursive: true });
    }
    const db = join(tmp.dir, 'live.db');
    const reader = spawn(process.execPath, [join(repoRoot, 'test', 'fixtures', 'reader-loop.mjs'), db], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    reader.stdout.on('data', (d: Buffer) => (out += d.toString()));
    // The reader says when it can take SIGTERM: one still loading its modules would die of it without a report.
    await waitFor('the reader to start', () => (out.startsWith('started\n') ? true : undefined), 30_000);

    const first = index(root, db);
    expect(first.counts.indexed).toBeGreaterThan(400);

    // Change every skill's body (same name and description): every row is upserted, none re-embedded.
    let touched = 0;
    const walk = (dir: string): void => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        const p = join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (e.name === 'SKILL.md') {
          writeFileSync(p, `${readFileSync(p, 'utf8')}\n\nEdited for the re-index.\n`);
          touched++;
        }
      }
    };
    walk(root);
    const second = index(root, db);
    expect(second.counts.indexed).toBe(first.counts.indexed);
    expect(second.counts.embedded).toBe(0);

    reader.kill('SIGTERM');
    // 'close', not 'exit': the report can still be in the pipe when the process has exited (a CI run once parsed
    // an empty report, with the two indexes done in 2.5 s).
    await new Promise((r) => reader.once('close', r));
    const report = JSON.parse(out.slice('started\n'.length)) as ReaderReport;
    const seenBy = JSON.stringify(report).slice(0, 2000);
    expect(report.errors, seenBy).toEqual([]);
    expect(report.queries, seenBy).toBeGreaterThan(50);
    expect(report.partialBatches, seenBy).toBe(0);
    expect(report.liveDecreased, seenBy).toBe(0);
    expect(report.maxLive, seenBy).toBe(first.counts.indexed);
    expect(touched).toBe(first.counts.seen);
    // Both runs write ~30 MB of pages (bodies, FTS, vectors; every row twice). The writer's auto-checkpoints
    // (1000 pages) complete between the reader's short snapshots, so the WAL is reused instead of growing:
    // seen here peaking at ~7.5 MB while the database is ~9.5 MB.
    expect(report.maxWalBytes, seenBy).toBeLessThan(16 * 1024 * 1024);

    const check = new Database(db, { readonly: true });
    expect(check.pragma('integrity_check', { simple: true })).toBe('ok');
    check.close();
  });
});
