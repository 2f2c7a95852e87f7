import { spawn, type ChildProcess } from 'node:child_process';
import { openSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

// From test/model-based (vitest) or dist/test/model-based (the soak script): the built CLI either way.
const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = here.includes(`${join('dist', 'test')}`)
  ? resolve(here, '..', '..', '..')
  : resolve(here, '..', '..');

/** The CLI as built by `npm run build`. */
export const cliPath = join(repoRoot, 'dist', 'bin', 'skillsmith-index.js');

/** A CLI process (a role: write, work, produce --serve) with its log in a file. */
export interface Role {
  name: string;
  args: string[];
  child: ChildProcess;
  exited: Promise<number | null>;
}

export function startCli(dir: string, name: string, args: string[], env: NodeJS.ProcessEnv = {}): Role {
  const fd = openSync(join(dir, `${name}.log`), 'a');
  const child = spawn(process.execPath, [cliPath, ...args], {
    stdio: ['ignore', fd, fd],
    env: { ...process.env, LOG_LEVEL: 'info', ...env },
  });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { name, args, child, exited };
}

/** SIGTERM (or `signal`) to every role still running, and wait for all of them. */
export async function stopRoles(roles: Role[], signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  for (const r of roles) if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill(signal);
  await Promise.all(roles.map((r) => r.exited));
}

/** Runs the CLI to its end; resolves with its exit code and output. */
export async function runCliAsync(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number | null; out: string }> {
  const child = spawn(process.execPath, [cliPath, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, LOG_LEVEL: 'warn', ...env },
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  // 'close', not 'exit': output can still be in the pipes when the process has exited.
  const code = await new Promise<number | null>((r) => child.once('close', (c) => r(c)));
  return { code, out };
}
