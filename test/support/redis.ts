import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** What a test needs of a Redis server. */
export interface TestRedisOptions {
  /**
   * Start the server with `--appendonly yes` (`appendfsync always`), for crash and restart tests. Needs a
   * server of its own: `REDIS_URL` is ignored and `redis-server` must be on PATH. Default false.
   */
  appendonly?: boolean;
  /** Data folder of a started server (kept by `stop()`); default a fresh temp folder, removed by `stop()`. */
  dir?: string;
}

/** A Redis server for one test file. */
export interface TestRedis {
  /** `redis://host:port` to hand to BullMQ / ioredis. */
  url: string;
  /** Stops a server this helper started (a no-op for `REDIS_URL`) and removes its temp folder. */
  stop(): Promise<void>;
  /**
   * Stops the server with `SHUTDOWN` (which fsyncs the AOF; `NOSAVE` would be wrong with AOF on) and starts it
   * again on the same port and folder. Only for a server this helper started.
   */
  restart(): Promise<void>;
}

/**
 * A real Redis for integration tests (never a mock), found in this order:
 * 1. `REDIS_URL` when set (the tests must then use unique prefixes: see {@link uniquePrefix});
 * 2. `redis-server` from PATH, started on a free loopback port in a temp folder, no persistence;
 * 3. testcontainers (`redis:7`) where Docker runs and the `testcontainers` package is installed;
 * otherwise it throws, saying which of the three to provide.
 */
export async function testRedis(options: TestRedisOptions = {}): Promise<TestRedis> {
  const ownServer = options.appendonly === true || options.dir !== undefined;
  const fromEnv = process.env.REDIS_URL;
  if (fromEnv && !ownServer) {
    return {
      url: fromEnv,
      stop: async () => undefined,
      restart: async () => {
        throw new Error('testRedis: cannot restart the server given by REDIS_URL');
      },
    };
  }
  if (onPath('redis-server')) return startRedisServer(options);
  if (ownServer) {
    throw new Error(
      'testRedis: a test with { appendonly } or { dir } needs its own server: install redis-server on PATH ' +
        '(apt-get install -y redis-server)',
    );
  }
  if (dockerAvailable()) {
    const container = await startContainer();
    if (container) return container;
  }
  throw new Error(
    'testRedis: no Redis for the integration tests. Provide one of: REDIS_URL=redis://host:port; ' +
      'redis-server on PATH (apt-get install -y redis-server); or a running Docker with ' +
      '`npm install --no-save testcontainers`.',
  );
}

/** A BullMQ prefix no other test (or run) uses: `test-<name>-<random>`. */
export function uniquePrefix(name: string): string {
  const safe = name.replace(/[^A-Za-z0-9_-]/g, '_');
  return `test-${safe}-${randomBytes(5).toString('hex')}`;
}

function onPath(command: string): boolean {
  return spawnSync(command, ['--version'], { stdio: 'ignore' }).status === 0;
}

function dockerAvailable(): boolean {
  return Boolean(process.env.DOCKER_HOST) || existsSync('/var/run/docker.sock');
}

/** A TCP port free on loopback right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Sends one inline command and returns the first reply line (`+PONG`, `-LOADING …`), or the socket error. */
async function rawCommand(port: number, command: string, timeoutMs = 1000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1' });
    let reply = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('timeout'));
    }, timeoutMs);
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(`${command}\r\n`));
    socket.on('data', (chunk: string) => {
      reply += chunk;
      if (reply.includes('\r\n')) {
        clearTimeout(timer);
        socket.destroy();
        resolve(reply.split('\r\n')[0] ?? '');
      }
    });
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    // SHUTDOWN closes the connection without a reply when it succeeds.
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(reply.split('\r\n')[0] ?? '');
    });
  });
}

/** Child processes still running, killed if the test process exits without stopping them. */
const running = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of running) child.kill('SIGKILL');
  });
}

async function startRedisServer(options: TestRedisOptions): Promise<TestRedis> {
  const ownDir = options.dir === undefined;
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'skillsmith-redis-'));
  installExitHook();

  const launch = async (port: number): Promise<ChildProcess> => {
    const args = [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      dir,
      '--save',
      '',
      '--appendonly',
      options.appendonly ? 'yes' : 'no',
      '--daemonize',
      'no',
      '--maxmemory-policy',
      'noeviction',
      '--loglevel',
      'warning',
    ];
    if (options.appendonly) args.push('--appendfsync', 'always');
    const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout?.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-4000)));
    child.stderr?.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-4000)));
    running.add(child);
    child.once('exit', () => running.delete(child));
    // Wait until it answers PING (it answers -LOADING while it replays an AOF) or exits (port taken …).
    const deadline = Date.now() + 20_000;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`redis-server exited (${child.exitCode ?? child.signalCode}): ${output.trim()}`);
      }
      const reply = await rawCommand(port, 'PING').catch(() => '');
      if (reply === '+PONG') return child;
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`redis-server on port ${port} did not answer PING in 20 s: ${output.trim()}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  // Another process may take the free port between the probe and redis-server's bind: try a few.
  let port = 0;
  let child: ChildProcess | undefined;
  for (let attempt = 0; child === undefined; attempt++) {
    port = await freePort();
    try {
      child = await launch(port);
    } catch (err) {
      if (attempt >= 4) throw err;
    }
  }

  const waitExit = async (proc: ChildProcess, timeoutMs: number): Promise<void> => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        proc.kill('SIGKILL');
      }, timeoutMs);
      proc.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  };

  let current: ChildProcess = child;
  return {
    url: `redis://127.0.0.1:${port}`,
    async stop() {
      current.kill('SIGTERM');
      await waitExit(current, 10_000);
      if (ownDir) rmSync(dir, { recursive: true, force: true });
    },
    async restart() {
      // SHUTDOWN (not NOSAVE): with AOF on, Redis fsyncs the log before it exits.
      await rawCommand(port, 'SHUTDOWN', 10_000).catch(() => '');
      await waitExit(current, 10_000);
      current = await launch(port);
    },
  };
}

/** testcontainers is optional (not a dependency): used only when installed and Docker runs. */
async function startContainer(): Promise<TestRedis | undefined> {
  interface Started {
    getHost(): string;
    getMappedPort(port: number): number;
    stop(): Promise<unknown>;
  }
  interface GenericContainerCtor {
    new (image: string): { withExposedPorts(port: number): { start(): Promise<Started> } };
  }
  const moduleName = 'testcontainers';
  let mod: { GenericContainer: GenericContainerCtor };
  try {
    mod = (await import(moduleName)) as { GenericContainer: GenericContainerCtor };
  } catch {
    return undefined;
  }
  const container = await new mod.GenericContainer('redis:7').withExposedPorts(6379).start();
  return {
    url: `redis://${container.getHost()}:${container.getMappedPort(6379)}`,
    async stop() {
      await container.stop();
    },
    async restart() {
      throw new Error('testRedis: restart() needs redis-server on PATH, not a container');
    },
  };
}
