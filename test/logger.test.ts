import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from './helpers.js';

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
});
