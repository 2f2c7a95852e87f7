/**
 * REDIS_PASSWORD: a deployment keeps the secret out of its command lines (docker-compose.yml passes
 * `--redis redis://redis:6379` and the password in the environment). Against a real redis-server with
 * `requirepass`: the CLI adds the password to a URL that has none, a URL's own password wins, and no message
 * ever shows it.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeRedis, parseRedisUrl } from '../src/shared/redis-connection.js';
import { cliPath } from './helpers.js';
import { freePort } from './support/redis.js';

const PASSWORD = 'p@ss/w:rd-7f3a';

describe('parseRedisUrl with REDIS_PASSWORD', () => {
  it('adds the password to a URL without one, percent-encoded', () => {
    const url = parseRedisUrl('redis://redis:6379', '--redis', PASSWORD);
    expect(decodeURIComponent(new URL(url).password)).toBe(PASSWORD);
    expect(describeRedis(url)).not.toContain('rd-7f3a');
  });

  it("keeps a URL's own password, and a URL as given when no password is set", () => {
    expect(parseRedisUrl('redis://:mine@redis:6379', '--redis', PASSWORD)).toBe('redis://:mine@redis:6379');
    expect(parseRedisUrl('redis://redis:6379', '--redis', '')).toBe('redis://redis:6379');
  });
});

const hasRedisServer = spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;

describe.skipIf(!hasRedisServer)('a Redis with requirepass', () => {
  let server: ChildProcess;
  let port: number;

  beforeAll(async () => {
    port = await freePort();
    server = spawn('redis-server', ['--port', String(port), '--save', '', '--requirepass', PASSWORD], {
      stdio: 'ignore',
    });
    for (let i = 0; i < 50; i++) {
      const r = spawnSync('redis-cli', ['-p', String(port), 'ping'], { encoding: 'utf8' });
      if (r.stdout.includes('NOAUTH') || r.stdout.includes('PONG')) break;
      await new Promise((res) => setTimeout(res, 100));
    }
  });
  afterAll(() => {
    server.kill('SIGKILL');
  });

  // A bounded wait: a CLI that hung on bad credentials would fail the test instead of stalling it.
  function cli(args: string[], env: Record<string, string | undefined>) {
    return spawnSync(process.execPath, [cliPath, ...args, '--redis', `redis://127.0.0.1:${port}`], {
      encoding: 'utf8',
      timeout: 60_000,
      env: { ...process.env, REDIS_URL: undefined, ...env },
    });
  }

  it('is reached with REDIS_PASSWORD from the environment', () => {
    const r = cli(['status', '--json'], { REDIS_PASSWORD: PASSWORD });
    expect(r.stderr).not.toContain(PASSWORD);
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toHaveProperty('redis');
  });

  it('refuses a role at start without it or with a wrong one, naming no password', () => {
    // `work` checks Redis before it loads anything: a clear E_REDIS failure, not endless reconnects.
    const none = cli(['work', '--threads', '1'], { REDIS_PASSWORD: undefined });
    expect(none.status).not.toBe(0);
    expect(none.stderr).toContain('[E_REDIS]');
    const wrong = cli(['work', '--threads', '1'], { REDIS_PASSWORD: 'not-the-password' });
    expect(wrong.status).not.toBe(0);
    expect(wrong.stderr).toContain('[E_REDIS]');
    expect(wrong.stderr).not.toContain('not-the-password');
  });
});
