import Database from 'better-sqlite3';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { openSync } from 'node:fs';
import { join } from 'node:path';
import { cliPath } from '../helpers.js';

/** A CLI process started by a test, its log in a file of the test's temp folder. */
export interface RoleProcess {
  child: ChildProcess;
  log: string;
  /** Resolves with the exit code once it exited. */
  exited: Promise<number | null>;
}

/** Starts `skillsmith-index <args>` as a real process (a role: write, work, produce --serve). */
export function startRole(
  dir: string,
  name: string,
  args: string[],
  env: NodeJS.ProcessEnv = {},
): RoleProcess {
  const log = join(dir, `${name}.log`);
  const fd = openSync(log, 'a');
  const child = spawn(process.execPath, [cliPath, ...args], {
    stdio: ['ignore', fd, fd],
    env: { ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'info', ...env },
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, log, exited };
}

/** Runs a CLI command to its end. */
export function runCli(
  args: string[],
  timeout = 300_000,
  env: NodeJS.ProcessEnv = {},
): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [cliPath, ...args], {
    encoding: 'utf8',
    timeout,
    env: { ...process.env, ...env },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Polls until `check` returns a value (not undefined), or fails after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => T | undefined, timeoutMs = 120_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    let v: T | undefined;
    try {
      v = check();
    } catch {
      v = undefined; // e.g. the database does not exist yet
    }
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** One query on a read-only connection (safe while the writer writes). */
export function query<T>(db: string, sql: string, ...params: unknown[]): T[] {
  const conn = new Database(db, { readonly: true, fileMustExist: true });
  conn.pragma('busy_timeout = 5000');
  try {
    return conn.prepare(sql).all(...params) as T[];
  } finally {
    conn.close();
  }
}
