import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { Queue, Worker } from 'bullmq';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dashboardAuth } from '../src/cli/dashboard-command.js';
import { startDashboard, type Dashboard } from '../src/dashboard/dashboard-server.js';
import { QUEUES } from '../src/shared/queues.js';
import { bullConnection } from '../src/shared/redis-connection.js';
import { testRedis, uniquePrefix, type TestRedis } from './support/redis.js';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

describe('the queue dashboard', () => {
  let redis: TestRedis;
  let queue: Queue;
  let worker: Worker | undefined;
  let dashboard: Dashboard | undefined;
  let browser: Browser | undefined;
  const prefix = uniquePrefix('dashboard');
  const auth = { user: 'ops', password: randomBytes(12).toString('hex') };

  beforeAll(async () => {
    redis = await testRedis();
    queue = new Queue(QUEUES.embed, { connection: bullConnection(redis.url), prefix });
    dashboard = await startDashboard({ redisUrl: redis.url, prefix, port: 0, host: '127.0.0.1', auth });
  });

  afterAll(async () => {
    await browser?.close();
    await dashboard?.close();
    await worker?.close();
    await queue?.obliterate({ force: true }).catch(() => undefined);
    await queue?.close();
    await redis?.stop();
  });

  it('lets an operator retry a failed job from the browser', async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(
        `${CHROMIUM} is missing: run \`apt-get install -y chromium\` (the dashboard test needs it)`,
      );
    }
    // The first attempt fails (attempts: 1, so it stays failed); a retried attempt succeeds.
    let attempts = 0;
    worker = new Worker(
      QUEUES.embed,
      async () => {
        attempts += 1;
        if (attempts === 1) throw new Error('model session crashed');
        return 'ok';
      },
      { connection: bullConnection(redis.url), prefix },
    );
    const job = await queue.add('batch', { skills: 3 }, { attempts: 1 });
    await until(async () => (await job.getState()) === 'failed', 'the job to fail');

    // playwright's launch() gives the browser a fresh temporary profile (user-data dir) and removes it after.
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
    const context = await browser.newContext({
      httpCredentials: { username: auth.user, password: auth.password },
    });
    const page = await context.newPage();
    page.setDefaultTimeout(20_000);
    const base = `http://127.0.0.1:${dashboard!.port}`;

    const response = await page.goto(`${base}/`);
    expect(response?.status()).toBe(200);
    for (const name of Object.values(QUEUES)) {
      await page.getByRole('link', { name, exact: true }).first().waitFor({ state: 'visible' });
    }

    await page.getByRole('link', { name: QUEUES.embed, exact: true }).first().click();
    await page
      .locator(`a[href="/queue/${QUEUES.embed}?status=failed"]`)
      .filter({ hasText: 'FAILED' })
      .click();
    await page.waitForURL(/status=failed/);

    const card = page
      .locator('div[class*="card-"]')
      .filter({ has: page.locator(`a[href^="/queue/${QUEUES.embed}/${job.id}?"]`) });
    await card.getByText('model session crashed').first().waitFor({ state: 'visible' });
    // The job's action buttons are icons; the retry one shows a "Retry" tooltip.
    const retry = card.locator('button:has(svg.lucide-refresh-cw)');
    await retry.hover();
    await page.getByText('Retry', { exact: true }).waitFor({ state: 'visible' });
    await retry.click();
    await page.getByRole('button', { name: 'Confirm' }).click();

    await until(async () => (await queue.getJobState(job.id!)) !== 'failed', 'the job to leave failed');
    expect(['waiting', 'active', 'completed']).toContain(await queue.getJobState(job.id!));
    await until(
      async () => (await queue.getJobState(job.id!)) === 'completed',
      'the retried job to complete',
    );
    expect(attempts).toBe(2);
    await context.close();
  });

  it('answers 401 without the right credentials', async () => {
    const base = `http://127.0.0.1:${dashboard!.port}`;
    const none = await fetch(`${base}/`);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Basic /);
    expect((await fetch(`${base}/api/queues`)).status).toBe(401);
    const wrong = await fetch(`${base}/`, { headers: { authorization: basic(auth.user, 'nope') } });
    expect(wrong.status).toBe(401);
    const wrongUser = await fetch(`${base}/`, { headers: { authorization: basic('root', auth.password) } });
    expect(wrongUser.status).toBe(401);
    const right = await fetch(`${base}/api/queues`, {
      headers: { authorization: basic(auth.user, auth.password) },
    });
    expect(right.status).toBe(200);
    // Liveness needs no credentials and says nothing about the queues.
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
  });

  it('refuses a state-changing request from another origin, even with credentials', async () => {
    const base = `http://127.0.0.1:${dashboard!.port}`;
    const res = await fetch(`${base}/api/queues/${QUEUES.embed}/retry/failed`, {
      method: 'PUT',
      headers: { authorization: basic(auth.user, auth.password), origin: 'http://evil.example' },
    });
    expect(res.status).toBe(403);
    const sameOrigin = await fetch(`${base}/api/queues/${QUEUES.embed}/retry/failed`, {
      method: 'PUT',
      headers: { authorization: basic(auth.user, auth.password), origin: base },
    });
    expect(sameOrigin.status).toBe(200);
  });

  it('refuses to serve without auth except on a loopback host', async () => {
    await expect(
      startDashboard({ redisUrl: redis.url, prefix, port: 0, host: '0.0.0.0', auth: undefined }),
    ).rejects.toThrow(/loopback/);
    expect(() => dashboardAuth({ auth: false, host: '0.0.0.0' }, {})).toThrow(/--no-auth.*loopback/);
    expect(() => dashboardAuth({ auth: true, host: '127.0.0.1' }, {})).toThrow(
      /SKILLSMITH_DASHBOARD_USER and SKILLSMITH_DASHBOARD_PASSWORD/,
    );
    expect(dashboardAuth({ auth: false, host: 'localhost' }, {})).toBeUndefined();
    expect(
      dashboardAuth(
        { auth: true, host: '0.0.0.0' },
        { SKILLSMITH_DASHBOARD_USER: 'a', SKILLSMITH_DASHBOARD_PASSWORD: 'b' },
      ),
    ).toEqual({ user: 'a', password: 'b' });

    const open = await startDashboard({ redisUrl: redis.url, prefix, port: 0, host: '127.0.0.1' });
    try {
      expect((await fetch(`http://127.0.0.1:${open.port}/api/queues`)).status).toBe(200);
    } finally {
      await open.close();
    }
  });
});
