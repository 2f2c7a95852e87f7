import Database from 'better-sqlite3';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cliPath, corpusDir, tempDir } from './helpers.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

function cli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [cliPath, ...args], { encoding: 'utf8', timeout: 300_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function liveSkills(db: string): number {
  const r = new Database(db, { readonly: true, fileMustExist: true });
  r.pragma('busy_timeout = 5000');
  try {
    return r.prepare('SELECT count(*) FROM skills WHERE removed_at IS NULL').pluck().get() as number;
  } catch {
    return 0; // schema not created yet
  } finally {
    r.close();
  }
}

describe('skillsmith-index CLI', () => {
  it('explains itself with --help', () => {
    const r = cli(['index', '--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/--threads/);
    expect(r.stdout).toMatch(/--json/);
  });

  it('rejects a bad flag value with a one-line message naming the flag', () => {
    const r = cli(['index', corpusDir, '--db', join(tmp.dir, 'x.db'), '--threads', '0']);
    expect(r.status).not.toBe(0);
    expect(r.stderr.trim().split('\n')[0]).toMatch(/--threads must be an integer ≥ 1 \(got 0\)/);
  });

  it('prints one JSON error object with --json when the command fails', () => {
    const r = cli(['status', '--db', join(tmp.dir, 'missing.db'), '--json']);
    expect(r.status).toBe(3); // EXIT.STORAGE
    expect(JSON.parse(r.stdout)).toEqual({
      error: { code: 'E_DATABASE', message: expect.stringMatching(/missing\.db does not exist/) },
    });
  });

  it('fails clearly on a folder that does not exist', () => {
    const r = cli(['index', join(tmp.dir, 'nope'), '--db', join(tmp.dir, 'nope.db'), '--json']);
    expect(r.status).toBe(2); // EXIT.BAD_INPUT: nothing could be crawled
    const summary = JSON.parse(r.stdout) as {
      status: string;
      failedSources: { id: string; message: string }[];
    };
    expect(summary.status).toBe('failed');
    expect(summary.failedSources[0]?.message).toMatch(/does not exist/);
  });
});

describe('crash safety', () => {
  it('survives kill -9 mid-run: the database is intact and a rerun finishes the job', async () => {
    const db = join(tmp.dir, 'crash.db');
    const child = spawn(process.execPath, [cliPath, 'index', corpusDir, '--db', db, '--batch-size', '32'], {
      stdio: 'ignore',
    });
    // Wait until some batches are committed, then kill without warning.
    const deadline = Date.now() + 120_000;
    let written = 0;
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      try {
        written = liveSkills(db);
      } catch {
        written = 0;
      }
      if (written >= 64) break;
    }
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    expect(written).toBeGreaterThanOrEqual(64);

    const check = new Database(db, { readonly: true });
    expect(check.pragma('integrity_check', { simple: true })).toBe('ok');
    const partial = check.prepare('SELECT count(*) FROM skills').pluck().get() as number;
    // Every written skill has its vector: batches are whole or absent.
    const withoutVector = check
      .prepare(
        'SELECT count(*) FROM skills s WHERE NOT EXISTS (SELECT 1 FROM skill_embeddings e WHERE e.skill_id = s.id)',
      )
      .pluck()
      .get();
    expect(withoutVector).toBe(0);
    check.close();
    expect(partial).toBeLessThan(1466);

    const rerun = cli(['index', corpusDir, '--db', db, '--json']);
    expect(rerun.status).toBe(0);
    const s = JSON.parse(rerun.stdout) as {
      status: string;
      counts: { seen: number; indexed: number; unchanged: number; failed: number };
    };
    expect(s.status).toBe('completed');
    expect(s.counts.seen).toBe(1467);
    expect(s.counts.unchanged).toBeGreaterThanOrEqual(partial);
    expect(s.counts.indexed + s.counts.unchanged + s.counts.failed).toBe(1467);

    const after = new Database(db, { readonly: true });
    expect(after.pragma('integrity_check', { simple: true })).toBe('ok');
    expect(after.prepare('SELECT count(*) FROM skills WHERE removed_at IS NULL').pluck().get()).toBe(1466);
    expect(after.prepare(`SELECT status FROM index_runs ORDER BY id`).pluck().all()).toEqual([
      'interrupted',
      'completed',
    ]);
    after.close();

    // `status` tells an operator the same story, read-only.
    const status = cli(['status', '--db', db, '--json']);
    expect(status.status).toBe(0);
    const st = JSON.parse(status.stdout) as {
      runs: { status: string }[];
      sources: { id: string; live: number }[];
      lastRunErrors: { code: string; count: number }[];
    };
    expect(st.runs.map((r) => r.status)).toEqual(['completed', 'interrupted']);
    expect(st.sources).toEqual([expect.objectContaining({ id: 'skills', live: 1466 })]);
    expect(st.lastRunErrors.reduce((n, e) => n + e.count, 0)).toBe(1); // the one skill with no title
  });

  it('stops cleanly on SIGTERM: in-flight batches written, run marked interrupted', async () => {
    const db = join(tmp.dir, 'term.db');
    const child = spawn(process.execPath, [cliPath, 'index', corpusDir, '--db', db, '--json'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const deadline = Date.now() + 120_000;
    while (Date.now() < deadline && liveSafe(db) < 32) await new Promise((r) => setTimeout(r, 200));
    child.kill('SIGTERM');
    // 'close', not 'exit': the summary can still be in the pipe when the process has exited.
    const code = await new Promise((r) => child.once('close', r));
    expect(code).toBe(130);
    const s = JSON.parse(out) as { status: string; counts: Record<string, number> };
    expect(s.status).toBe('interrupted');
    expect(s.counts.removed).toBe(0);
    const r = new Database(db, { readonly: true });
    expect(r.prepare('SELECT status FROM index_runs').pluck().all()).toEqual(['interrupted']);
    expect(r.prepare('SELECT count(*) FROM skills').pluck().get()).toBe(s.counts.indexed);
    r.close();
  });
});

function liveSafe(db: string): number {
  try {
    return liveSkills(db);
  } catch {
    return 0;
  }
}
