import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliPath, corpusDir, tempDir } from './helpers.js';

// ORT's Linux telemetry crashed (exit 139) on a long /proc/self/cmdline unless `CI` was set. CI sets it, so these
// tests take it out of the children's environment: they must pass exactly where users hit the crash.
const env = { ...process.env };
delete env.CI;
delete env.ORT_DISABLE_TELEMETRY;

const tmp = tempDir();
const db = join(tmp.dir, 'long.db');
const folders: string[] = [];

function cli(args: string[]): {
  status: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
} {
  const r = spawnSync(process.execPath, [cliPath, ...args], { encoding: 'utf8', env, timeout: 300_000 });
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(() => {
  // 220 source folders, as a shell glob would give them: every argument is a real folder with one skill.
  const skill = join(corpusDir, 'anthropics__skills', 'skills', 'mcp-builder');
  for (let i = 0; i < 220; i++) {
    const root = join(tmp.dir, 'many', `source-with-a-fairly-long-folder-name-${String(i).padStart(4, '0')}`);
    mkdirSync(root, { recursive: true });
    cpSync(skill, join(root, 'mcp-builder'), { recursive: true });
    folders.push(root);
  }
});
afterAll(() => tmp.cleanup());

describe('long command lines (no CI in the environment)', () => {
  it('indexes 220 folders given on the command line', () => {
    const r = cli(['index', ...folders, '--db', db, '--threads', '1', '--json']);
    expect(r.signal).toBeNull();
    expect(r.status, r.stderr.slice(-2000)).toBe(0);
    expect(JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '{}')).toMatchObject({ status: 'completed' });
  }, 300_000);

  it('loads the model for a hybrid search from a process with a 40 KB command line', () => {
    // `node -e` with a long comment: the command line is long, the query is short and valid.
    const script = `/* ${'x'.repeat(40_000)} */
      process.argv = [process.argv[0], ${JSON.stringify(cliPath)}, 'search', 'build an mcp server', '--db', ${JSON.stringify(db)}, '--json'];
      await import(${JSON.stringify(cliPath)});`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', env });
    expect(r.signal).toBeNull();
    expect(r.status, r.stderr.slice(-2000)).toBe(0);
    expect(r.stdout).toMatch(/mcp-builder/);
  }, 120_000);

  it('refuses a 35 KB query with a one-line message instead of crashing', () => {
    const r = cli(['search', 'why '.repeat(9_000), '--db', db]);
    expect(r.signal).toBeNull();
    expect(r.status).toBe(2);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/query is 36000 characters; the limit is 2000/);
  }, 60_000);
});
