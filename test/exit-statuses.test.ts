import Database from 'better-sqlite3';
import { spawnSync } from 'node:child_process';
import { closeSync, cpSync, openSync, readFileSync, statSync, truncateSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../src/shared/exit-status.js';
import { cliPath, corpusDir, tempDir } from './helpers.js';

const tmp = tempDir();
const skills = join(tmp.dir, 'skills');
afterAll(() => tmp.cleanup());
beforeAll(() => {
  for (const s of ['mcp-builder', 'webapp-testing']) {
    cpSync(join(corpusDir, 'anthropics__skills', 'skills', s), join(skills, s), { recursive: true });
  }
});

function cli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [cliPath, ...args], { encoding: 'utf8', timeout: 240_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The one JSON object `--json` prints (last stdout line). */
function json(stdout: string): Record<string, unknown> {
  return JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as Record<string, unknown>;
}

function freshIndex(name: string): string {
  const db = join(tmp.dir, `${name}.db`);
  const r = cli(['index', skills, '--db', db, '--threads', '1', '--json']);
  expect(r.status, r.stderr).toBe(EXIT.OK);
  // Everything in the main file, so damaging the file damages the index.
  const w = new Database(db);
  w.pragma('wal_checkpoint(TRUNCATE)');
  w.close();
  return db;
}

describe('exit statuses of the CLI (docs/errors.md)', () => {
  it('a usage error is bad input (2), not 1', () => {
    const r = cli(['index', '--no-such-flag']);
    expect(r.status).toBe(EXIT.BAD_INPUT);
    expect(r.stderr).toMatch(/unknown option '--no-such-flag'/);
  });

  it("a typo'd source path fails the run with 2, recorded as failed, never an empty completed run", () => {
    const db = join(tmp.dir, 'typo.db');
    const r = cli(['index', join(tmp.dir, 'no-such-folder'), '--db', db, '--json']);
    expect(r.status).toBe(EXIT.BAD_INPUT);
    expect(r.stderr).toMatch(/no source could be crawled .*no-such-folder.*\[E_SOURCE_FAILED\]/);
    expect(json(r.stdout)).toMatchObject({ status: 'failed' });
    const d = new Database(db, { readonly: true });
    expect(d.prepare('SELECT status FROM index_runs ORDER BY id DESC LIMIT 1').pluck().get()).toBe('failed');
    d.close();
  }, 120_000);

  it('a run where only some sources failed completes and exits 6 (partial)', () => {
    const db = join(tmp.dir, 'partial.db');
    const r = cli(['index', skills, join(tmp.dir, 'missing'), '--db', db, '--threads', '1', '--json']);
    expect(r.status).toBe(EXIT.PARTIAL);
    expect(r.stderr).toMatch(/1 of 2 sources could not be crawled \(missing\)/);
    expect(json(r.stdout)).toMatchObject({ status: 'completed', counts: { indexed: 2 } });
  }, 120_000);

  it("refuses another program's SQLite database and leaves it exactly as it was (3)", () => {
    const app = join(tmp.dir, 'app.db');
    const d = new Database(app);
    d.exec(
      `CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT); INSERT INTO users (email) VALUES ('a@b.c');`,
    );
    d.close();
    const before = readFileSync(app);
    const r = cli(['index', skills, '--db', app, '--json']);
    expect(r.status).toBe(EXIT.STORAGE);
    expect(r.stderr.trim().split('\n').at(-1)).toMatch(/another program's SQLite database.*\[E_DATABASE\]/);
    expect(json(r.stdout)).toMatchObject({ error: { code: 'E_DATABASE' } });
    expect(readFileSync(app).equals(before)).toBe(true);
    const after = new Database(app, { readonly: true });
    expect(after.pragma('journal_mode', { simple: true })).toBe('delete');
    after.close();
  }, 120_000);

  it('a truncated index is reported as corrupt with what to do (3), by index, search and status', () => {
    const db = freshIndex('truncated');
    truncateSync(db, Math.floor(statSync(db).size / 3));
    for (const args of [
      ['search', 'build an mcp server', '--db', db, '--mode', 'fts', '--json'],
      ['status', '--db', db, '--json'],
      ['index', skills, '--db', db, '--json'],
    ]) {
      const r = cli(args);
      expect(r.status, `${args[0]}: ${r.stderr}`).toBe(EXIT.STORAGE);
      expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
      expect(json(r.stdout)).toMatchObject({ error: { code: 'E_DATABASE_CORRUPT' } });
      expect(r.stderr).toMatch(/is corrupt.*restore a published snapshot, or delete it and re-index/);
    }
  }, 240_000);

  it('a page overwritten with garbage is reported as corrupt (3)', () => {
    const db = freshIndex('garbage');
    const fd = openSync(db, 'r+');
    const page = 4096;
    const pages = Math.floor(statSync(db).size / page);
    for (let p = 1; p < pages; p++) writeSync(fd, Buffer.alloc(page, 0xa5), 0, page, p * page);
    closeSync(fd);
    const r = cli(['search', 'build an mcp server', '--db', db, '--mode', 'fts', '--json']);
    expect(r.status, r.stderr).toBe(EXIT.STORAGE);
    expect(json(r.stdout)).toMatchObject({ error: { code: 'E_DATABASE_CORRUPT' } });
  }, 240_000);
});
