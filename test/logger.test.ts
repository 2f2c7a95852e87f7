import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { humanLogs } from '../src/shared/logger.js';
import { describe, expect, it } from 'vitest';
import { cliPath, repoRoot, tempDir } from './helpers.js';

describe('the logger', () => {
  it('never writes a token, a password or a credential inside an error message', () => {
    const logger = join(repoRoot, 'dist', 'src', 'shared', 'logger.js');
    const script = `
      const { createLogger } = await import(${JSON.stringify(logger)});
      const log = createLogger();
      const err = new Error('fetch https://deploy:ghp_SECRET1@git.example.com/r.git failed');
      err.stderr = 'fatal: ghp_SECRET1 rejected';
      log.error({ err, token: 'ghp_SECRET1', config: { redis: { password: 'SECRET2' } }, headers: { authorization: 'token ghp_SECRET1' } }, 'boom');
    `;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    const line = JSON.parse(r.stderr.trim()) as { msg: string; err: { message: string } };
    expect(line.msg).toBe('boom');
    expect(line.err.message).toBe('fetch https://***@git.example.com/r.git failed');
    expect(r.stderr).not.toMatch(/SECRET/);
  });

  it('is human-readable on a terminal unless --json is given', () => {
    expect(humanLogs({ isTTY: true }, ['node', 'main.js', 'index', 'x'])).toBe(true);
    expect(humanLogs({ isTTY: true }, ['node', 'main.js', 'index', 'x', '--json'])).toBe(false);
    expect(humanLogs({ isTTY: false }, ['node', 'main.js', 'index', 'x'])).toBe(false);
    expect(humanLogs({}, ['node', 'main.js'])).toBe(false);
  });

  it('writes pretty lines to a real terminal, JSON lines with --json or without a terminal', () => {
    const tmp = tempDir('skillsmith-logger-');
    try {
      const examples = join(repoRoot, 'examples', 'skills');
      const db = join(tmp.dir, 'skills.db');
      const shell = (extra: string): string =>
        `${JSON.stringify(process.execPath)} ${JSON.stringify(cliPath)} index ${JSON.stringify(examples)} --db ${JSON.stringify(db)}${extra}`;
      // script(1) runs the command on a pseudo-terminal: stderr is a TTY, as for a person at a shell.
      const onTty = (extra: string): string =>
        spawnSync('script', ['-qec', shell(extra), '/dev/null'], {
          encoding: 'utf8',
          env: { ...process.env, LOG_LEVEL: 'info' },
        }).stdout;
      const human = onTty('');
      expect(human).toMatch(/INFO.*index run starting/);
      expect(human).not.toMatch(/"level":30/);
      const json = onTty(' --json');
      expect(json).toMatch(/\{"level":30,.*"msg":"index run starting"\}/);
      const piped = spawnSync('sh', ['-c', shell('')], { encoding: 'utf8' });
      expect(piped.status).toBe(0);
      expect(piped.stdout).toBe('');
      expect(piped.stderr).toMatch(/\{"level":30,.*"msg":"index run starting"\}/);
    } finally {
      tmp.cleanup();
    }
  });
});
