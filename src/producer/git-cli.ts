import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';

/**
 * Config given on the command line of every git run. Command-line config wins over every file, and with the
 * system and global files switched off (see {@link gitEnv}) nothing from the machine applies either:
 * - no hook ever runs (`reference-transaction` would run on fetch), no fsmonitor, no credential helper;
 * - `file://` is allowed (local mirrors, tests), the `ext::` transport (runs a command) never is;
 * - ssh never prompts (unknown host keys and passphrases fail instead of hanging a batch job).
 * The cache is bare and never checked out, so no checkout hook, smudge filter or LFS filter can run at all.
 */
const SAFE_CONFIG: readonly string[] = [
  'core.hooksPath=/dev/null',
  'core.fsmonitor=false',
  'credential.helper=',
  'core.askPass=',
  'protocol.file.allow=always',
  'protocol.ext.allow=never',
  'core.sshCommand=ssh -o BatchMode=yes',
  'init.defaultBranch=main',
];

/** Environment variables of ssh that an operator may set on purpose (deploy keys); every other `GIT_*` goes. */
const KEPT_GIT_ENV = new Set(['GIT_SSH', 'GIT_SSH_COMMAND', 'GIT_SSH_VARIANT']);

/**
 * The environment git runs with: the caller's, minus every `GIT_*` variable (a `GIT_DIR` or `GIT_CONFIG_*` left
 * by a parent hook would point git elsewhere) and askpass programs, plus no terminal prompt and no system or
 * global config file.
 */
export function gitEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (key.startsWith('GIT_') && !KEPT_GIT_ENV.has(key)) continue;
    if (key === 'SSH_ASKPASS') continue;
    env[key] = value;
  }
  env.GIT_TERMINAL_PROMPT = '0';
  env.GIT_CONFIG_NOSYSTEM = '1';
  env.GIT_CONFIG_GLOBAL = '/dev/null';
  env.LC_ALL = 'C'; // stderr in English: it is summarised into error messages
  return env;
}

/** Why a git run failed. */
export type GitFailure = 'exit' | 'timeout' | 'aborted' | 'spawn' | 'output';

/** A git run that did not succeed; `stderr` is raw (may hold a URL with credentials: redact before showing). */
export class GitError extends Error {
  readonly reason: GitFailure;
  readonly exitCode: number | null;
  readonly stderr: string;

  constructor(reason: GitFailure, message: string, stderr: string, exitCode: number | null = null) {
    super(message);
    this.name = 'GitError';
    this.reason = reason;
    this.stderr = stderr;
    this.exitCode = exitCode;
  }
}

/** How to run git. */
export interface GitRunner {
  /** The git executable. */
  binary: string;
  /** Cap on one run, in ms. */
  timeoutMs: number;
}

export interface GitRunOptions {
  /** Repository the command runs in (`--git-dir`). */
  gitDir?: string | undefined;
  signal?: AbortSignal | undefined;
  /** Stdout beyond this is an error (a hostile tree listing must not exhaust memory). Default 256 MiB. */
  maxStdoutBytes?: number | undefined;
}

/** The full argument list: safe config first, then the repository, then the command. */
function fullArgs(args: readonly string[], gitDir: string | undefined): string[] {
  const out: string[] = [];
  for (const c of SAFE_CONFIG) out.push('-c', c);
  if (gitDir !== undefined) out.push(`--git-dir=${gitDir}`);
  return [...out, ...args];
}

/**
 * Starts git with an argument array (never through a shell) in its own process group, so that a timeout or
 * an abort kills git together with the helpers it started (`git-remote-https`, `ssh`, `index-pack`).
 */
function start(runner: GitRunner, args: readonly string[], gitDir: string | undefined): ChildProcess {
  return spawn(runner.binary, fullArgs(args, gitDir), {
    env: gitEnv(),
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: true,
    windowsHide: true,
  });
}

function killGroup(child: ChildProcess): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    child.kill('SIGKILL');
  }
}

/**
 * Runs one git command to completion and returns its stdout.
 *
 * @throws GitError on a non-zero exit, a timeout, an abort, a spawn failure or oversized output.
 */
export function runGit(
  runner: GitRunner,
  args: readonly string[],
  opts: GitRunOptions = {},
): Promise<Buffer> {
  const maxStdout = opts.maxStdoutBytes ?? 256 * 1024 * 1024;
  return new Promise<Buffer>((resolve, reject) => {
    if (opts.signal?.aborted) {
      reject(new GitError('aborted', `git ${args[0] ?? ''} aborted`, ''));
      return;
    }
    const child = start(runner, args, opts.gitDir);
    child.stdin?.end();
    const out: Buffer[] = [];
    let outBytes = 0;
    const err: Buffer[] = [];
    let errBytes = 0;
    let failure: GitError | undefined;
    const fail = (e: GitError): void => {
      failure ??= e;
      killGroup(child);
    };
    const timer = setTimeout(
      () => fail(new GitError('timeout', `git ${args[0] ?? ''} timed out after ${runner.timeoutMs} ms`, '')),
      runner.timeoutMs,
    );
    const onAbort = (): void => fail(new GitError('aborted', `git ${args[0] ?? ''} aborted`, ''));
    opts.signal?.addEventListener('abort', onAbort, { once: true });

    child.stdout?.on('data', (chunk: Buffer) => {
      outBytes += chunk.length;
      if (outBytes > maxStdout) {
        fail(new GitError('output', `git ${args[0] ?? ''} printed more than ${maxStdout} bytes`, ''));
        return;
      }
      out.push(chunk);
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      // Only the start of stderr matters for a summary; keep it bounded.
      if (errBytes < 64 * 1024) err.push(chunk);
      errBytes += chunk.length;
    });
    child.on('error', (e) => {
      // Not installed: say where to get it (the Docker image has git only when built with WITH_GIT=true).
      const hint =
        (e as NodeJS.ErrnoException).code === 'ENOENT'
          ? ' (install git; the Docker image: build it with --build-arg WITH_GIT=true)'
          : '';
      fail(new GitError('spawn', `cannot run ${runner.binary}: ${e.message}${hint}`, ''));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      const stderr = Buffer.concat(err).toString('utf8');
      if (failure) {
        reject(new GitError(failure.reason, failure.message, stderr || failure.stderr, code));
      } else if (code !== 0) {
        reject(new GitError('exit', `git ${args[0] ?? ''} exited with code ${code}`, stderr, code));
      } else {
        resolve(Buffer.concat(out));
      }
    });
  });
}

/** Object ids as git prints them: sha1 (40 hex) or sha256 (64 hex). */
export function isObjectId(text: string): boolean {
  return /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/.test(text);
}

interface PendingRead {
  sha: string;
  maxBytes: number;
  resolve: (bytes: Buffer) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * One long-lived `git cat-file --batch` process: object ids go in on stdin, one per line; each comes back as
 * `<oid> <type> <size>\n<bytes>\n` (or `<oid> missing\n`). One process for a whole crawl instead of one per
 * blob: spawning git costs milliseconds, reading a small blob microseconds. Reads are answered in order.
 */
export class CatFileBatch {
  private readonly child: ChildProcess;
  private readonly queue: PendingRead[] = [];
  private readonly timeoutMs: number;
  private stderr = '';
  private dead: Error | undefined;
  private readonly onAbort: () => void;
  private readonly signal: AbortSignal | undefined;

  // Parser state for the answer at the head of the queue.
  private mode: 'header' | 'body' | 'skip' | 'newline' = 'header';
  private headParts: Buffer[] = [];
  private body: Buffer = Buffer.alloc(0);
  private filled = 0;
  private size = 0;
  private type = '';
  /** What the object just read resolves to, once its trailing LF has arrived. */
  private pendingResult: Buffer | Error | undefined;

  constructor(runner: GitRunner, gitDir: string, signal?: AbortSignal) {
    this.timeoutMs = runner.timeoutMs;
    this.signal = signal;
    this.child = start(runner, ['cat-file', '--batch'], gitDir);
    this.child.stdout?.on('data', (chunk: Buffer) => this.onData(chunk));
    this.child.stderr?.on('data', (chunk: Buffer) => {
      if (this.stderr.length < 8192) this.stderr += chunk.toString('utf8');
    });
    this.child.stdin?.on('error', () => {
      // EPIPE after git died: reported through 'close'.
    });
    this.child.on('error', (e) => this.failAll(new Error(`cannot run ${runner.binary}: ${e.message}`)));
    this.child.on('close', (code) =>
      this.failAll(
        new Error(
          `git cat-file exited (code ${code})${this.stderr ? `: ${this.stderr.trim().split('\n')[0]}` : ''}`,
        ),
      ),
    );
    this.onAbort = () => {
      this.failAll(new Error('aborted'));
      killGroup(this.child);
    };
    signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  /** True once the process failed or exited: every later read fails too. */
  get isDead(): boolean {
    return this.dead !== undefined;
  }

  /** The bytes of blob `sha`; rejects if it is missing, not a blob, or larger than `maxBytes`. */
  read(sha: string, maxBytes: number): Promise<Buffer> {
    if (this.dead) return Promise.reject(this.dead);
    if (!isObjectId(sha)) return Promise.reject(new Error(`not an object id: ${JSON.stringify(sha)}`));
    return new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.failAll(new Error(`git cat-file gave no answer for ${sha} within ${this.timeoutMs} ms`));
        killGroup(this.child);
      }, this.timeoutMs);
      this.queue.push({ sha, maxBytes, resolve, reject, timer });
      this.child.stdin?.write(`${sha}\n`);
    });
  }

  /** Ends the process (stdin closed: git exits), killing it if it does not exit within a second. */
  async close(): Promise<void> {
    this.signal?.removeEventListener('abort', this.onAbort);
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const closed = new Promise<void>((resolve) => this.child.once('close', () => resolve()));
    this.child.stdin?.end();
    const timer = setTimeout(() => killGroup(this.child), 1000);
    await closed;
    clearTimeout(timer);
  }

  private failAll(err: Error): void {
    this.dead ??= err;
    for (const p of this.queue.splice(0)) {
      clearTimeout(p.timer);
      p.reject(err);
    }
  }

  private settle(result: Buffer | Error): void {
    const p = this.queue.shift();
    if (!p) return;
    clearTimeout(p.timer);
    if (result instanceof Error) p.reject(result);
    else p.resolve(result);
  }

  private onData(chunk: Buffer): void {
    let offset = 0;
    while (offset < chunk.length) {
      if (this.mode === 'header') {
        const nl = chunk.indexOf(10, offset);
        if (nl < 0) {
          this.headParts.push(chunk.subarray(offset));
          return;
        }
        this.headParts.push(chunk.subarray(offset, nl));
        offset = nl + 1;
        const header = Buffer.concat(this.headParts).toString('utf8');
        this.headParts = [];
        const [oid, type, size] = header.split(' ');
        if (size === undefined) {
          this.settle(new Error(`object ${oid ?? '?'} is ${type ?? 'unreadable'}`));
          continue;
        }
        this.type = type ?? '';
        this.size = Number(size);
        this.filled = 0;
        const head = this.queue[0];
        const max = head?.maxBytes ?? 0;
        if (this.type !== 'blob' || !(this.size <= max)) {
          this.mode = 'skip';
        } else {
          this.body = Buffer.allocUnsafe(this.size);
          this.mode = 'body';
        }
      } else if (this.mode === 'body' || this.mode === 'skip') {
        const n = Math.min(this.size - this.filled, chunk.length - offset);
        if (this.mode === 'body') chunk.copy(this.body, this.filled, offset, offset + n);
        this.filled += n;
        offset += n;
        if (this.filled === this.size) {
          const result =
            this.mode === 'body'
              ? this.body
              : new Error(
                  this.type !== 'blob'
                    ? `object is a ${this.type}, not a blob`
                    : `blob is ${this.size} bytes, over the ${this.queue[0]?.maxBytes ?? 0}-byte limit`,
                );
          this.body = Buffer.alloc(0);
          this.mode = 'newline';
          this.pendingResult = result;
        }
      } else {
        // The LF that ends every object.
        offset += 1;
        this.mode = 'header';
        const result = this.pendingResult;
        this.pendingResult = undefined;
        if (result) this.settle(result);
      }
    }
  }
}
