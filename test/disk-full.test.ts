import Database from 'better-sqlite3';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EXIT } from '../src/shared/exit-status.js';
import { cliPath, corpusDir, tempDir } from './helpers.js';

// A real full filesystem: a 3 MiB tmpfs, which needs root (CI and these machines run as root). Elsewhere the
// test is skipped, and says so.
const tmp = tempDir();
const mnt = join(tmp.dir, 'small-disk');
const canMount = process.getuid?.() === 0 && mountTmpfs('3m');

function mountTmpfs(size: string): boolean {
  mkdirSync(mnt, { recursive: true });
  return spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', mnt]).status === 0;
}

afterAll(() => {
  if (canMount) spawnSync('umount', [mnt]);
  tmp.cleanup();
});

function cli(args: string[]): {
  status: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
} {
  const r = spawnSync(process.execPath, [cliPath, ...args], { encoding: 'utf8', timeout: 300_000 });
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

describe.skipIf(!canMount)('index onto a full disk (tmpfs; needs root)', () => {
  const db = join(mnt, 'skills.db');

  it('exits 3 with E_DISK_FULL, one JSON error, the lock released and the run marked failed', () => {
    // The whole corpus does not fit in 3 MiB: the writer hits SQLITE_FULL while batches are being embedded.
    const r = cli(['index', corpusDir, '--db', db, '--json']);
    expect(r.signal, r.stderr.slice(-500)).toBeNull(); // once SIGABRT (134) from a pool closed mid-inference
    expect(r.status, r.stderr.slice(-500)).toBe(EXIT.STORAGE);
    expect(JSON.parse(r.stdout)).toEqual({
      error: { code: 'E_DISK_FULL', message: expect.stringMatching(/the disk holding .*skills\.db is full/) },
    });
    expect(r.stderr).toMatch(/^skillsmith-index: the disk holding .* is full .*\[E_DISK_FULL\]$/m);
    expect(existsSync(`${db}.writer.lock`)).toBe(false);
    const d = new Database(db, { readonly: true });
    expect(d.pragma('integrity_check', { simple: true })).toBe('ok');
    expect(d.prepare('SELECT status FROM index_runs ORDER BY id DESC LIMIT 1').pluck().get()).toBe('failed');
    d.close();
  }, 300_000);

  it('completes when run again after space is freed, keeping what was written', () => {
    expect(spawnSync('mount', ['-o', 'remount,size=256m', mnt]).status).toBe(0);
    const r = cli(['index', corpusDir, '--db', db, '--json']);
    expect(r.status, r.stderr.slice(-500)).toBe(EXIT.OK);
    const summary = JSON.parse(r.stdout) as { status: string; counts: { unchanged: number } };
    expect(summary.status).toBe('completed');
    expect(summary.counts.unchanged).toBeGreaterThan(0); // batches from the failed run were kept
  }, 300_000);
});
