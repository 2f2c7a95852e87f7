/**
 * Distributed mode against the embedded mode, measured in the same bench run on the same corpus, as users run
 * them: CLI processes. Embedded: `index` on a fresh database. Distributed: a fresh `write` and one `work` (the
 * pool, all CPU threads) are started and ready — a worker loads its model before it reports ready, as a
 * deployed worker has long done — then `produce` crawls and waits until the writer finished the run. Both are
 * timed from the command's start to its summary; the embedded time includes its model session load (~0.5 s
 * here), the distributed one does not. Runs alternate (E, D, E, D …) so machine noise falls on both.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { openSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';

/** One timed run of one mode. */
export interface ModeRun {
  wallMs: number;
  embedded: number;
  seen: number;
}

/** What {@link measureDistributed} returns. */
export interface DistributedBench {
  embedded: ModeRun[];
  distributed: ModeRun[];
  redis: string;
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

async function waitForLog(
  file: string,
  text: string,
  child: ChildProcess,
  timeoutMs = 60_000,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    let content = '';
    try {
      content = readFileSync(file, 'utf8');
    } catch {
      /* not yet */
    }
    if (content.includes(text)) return;
    if (child.exitCode !== null) throw new Error(`${path.basename(file)} exited: ${content.slice(-500)}`);
    if (Date.now() > end) throw new Error(`timed out waiting for "${text}" in ${file}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

/** Runs the comparison. `redisUrl` undefined: starts `redis-server` from PATH on a free port (no persistence). */
export async function measureDistributed(args: {
  cli: string;
  roots: string[];
  tmp: string;
  threads: number;
  runs: number;
  redisUrl?: string | undefined;
}): Promise<DistributedBench> {
  let server: ChildProcess | undefined;
  let url = args.redisUrl;
  if (!url) {
    const port = await freePort();
    server = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      {
        stdio: 'ignore',
      },
    );
    url = `redis://127.0.0.1:${port}`;
    const end = Date.now() + 10_000;
    while (
      spawnSync('redis-cli', ['-p', String(port), 'ping'], { encoding: 'utf8' }).stdout.trim() !== 'PONG'
    ) {
      if (Date.now() > end) throw new Error('redis-server did not start');
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  const env = { ...process.env, LOG_LEVEL: 'info' };
  const result: DistributedBench = {
    embedded: [],
    distributed: [],
    redis: url.replace(/\/\/[^@]*@/, '//***@'),
  };
  try {
    for (let i = 0; i < args.runs; i++) {
      // Embedded.
      const edb = path.join(args.tmp, `emb-${i}.db`);
      let t0 = performance.now();
      const e = spawnSync(
        process.execPath,
        [args.cli, 'index', ...args.roots, '--db', edb, '--json', '--threads', String(args.threads)],
        {
          encoding: 'utf8',
          env,
          maxBuffer: 64 * 1024 * 1024,
        },
      );
      const ems = performance.now() - t0;
      if (e.status !== 0) throw new Error(`index failed: ${e.stderr.slice(-500)}`);
      const es = JSON.parse(e.stdout) as { counts: { embedded: number; seen: number } };
      result.embedded.push({ wallMs: ems, embedded: es.counts.embedded, seen: es.counts.seen });

      // Distributed: fresh roles and database, ready before the clock starts.
      const prefix = `bench-${randomBytes(4).toString('hex')}`;
      const r = ['--redis', url, '--prefix', prefix];
      const ddb = path.join(args.tmp, `dist-${i}.db`);
      const wlog = path.join(args.tmp, `writer-${i}.log`);
      const klog = path.join(args.tmp, `worker-${i}.log`);
      const open = (f: string): ['ignore', number, number] => {
        const fd = openSync(f, 'a');
        return ['ignore', fd, fd];
      };
      const writer = spawn(process.execPath, [args.cli, 'write', '--db', ddb, ...r], {
        stdio: open(wlog),
        env,
      });
      const worker = spawn(process.execPath, [args.cli, 'work', '--threads', String(args.threads), ...r], {
        stdio: open(klog),
        env,
      });
      try {
        await waitForLog(wlog, 'writer ready', writer);
        await waitForLog(klog, 'worker ready', worker);
        t0 = performance.now();
        const d = spawnSync(process.execPath, [args.cli, 'produce', ...args.roots, '--json', ...r], {
          encoding: 'utf8',
          env,
          maxBuffer: 64 * 1024 * 1024,
        });
        const dms = performance.now() - t0;
        if (d.status !== 0) throw new Error(`produce failed: ${d.stderr.slice(-500)}`);
        const ds = JSON.parse(d.stdout) as { summary: { counts: { embedded: number; seen: number } } };
        result.distributed.push({
          wallMs: dms,
          embedded: ds.summary.counts.embedded,
          seen: ds.summary.counts.seen,
        });
      } finally {
        await Promise.all([stop(writer), stop(worker)]);
      }
    }
  } finally {
    if (server) await stop(server);
  }
  return result;
}
