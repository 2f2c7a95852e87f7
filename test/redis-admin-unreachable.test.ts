import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../src/shared/exit-status.js';
import { cliPath } from './helpers.js';
import { freePort, testRedis, type TestRedis } from './support/redis.js';

let redis: TestRedis;
let closedPort: number;
beforeAll(async () => {
  redis = await testRedis();
  closedPort = await freePort();
});
afterAll(async () => redis?.stop());

const ADMIN = [
  ['status', '--redis'],
  ['failed', '--redis'],
  ['schedule', 'list', '--redis'],
  ['backfill', 'some-source', '--redis'],
];

function cli(args: string[]): { status: number | null; signal: string | null; stderr: string } {
  // The 30 s kill is a bound for a hang (they once hung 60–100 s), not a speed target.
  const r = spawnSync(process.execPath, [cliPath, ...args], { encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, signal: r.signal, stderr: r.stderr };
}

describe('admin commands on a Redis they cannot use', () => {
  it.each(ADMIN)(
    '%s … fails with E_REDIS and one line when nothing listens',
    (...args) => {
      const r = cli([...args, `redis://127.0.0.1:${closedPort}`]);
      expect(r.signal).toBeNull();
      expect(r.status).toBe(EXIT.REDIS);
      const lines = r.stderr.trim().split('\n');
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(
        /cannot reach Redis at redis:\/\/127\.0\.0\.1:\d+: .*ECONNREFUSED.*\[E_REDIS\]/,
      );
    },
    40_000,
  );

  it.each(ADMIN)(
    '%s … fails with a TLS hint given rediss:// to a plain Redis port',
    (...args) => {
      const port = new URL(redis.url).port;
      const r = cli([...args, `rediss://:secret-password@127.0.0.1:${port}`]);
      expect(r.signal).toBeNull();
      expect(r.status).toBe(EXIT.REDIS);
      const lines = r.stderr.trim().split('\n');
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(/cannot reach Redis at rediss:\/\/\*\*\*@127\.0\.0\.1:\d+: .*use redis:\/\//);
      expect(r.stderr).not.toContain('secret-password');
    },
    40_000,
  );
});
