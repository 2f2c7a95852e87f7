/**
 * Runs one measurement in a fresh Node process, so its heap, ORT sessions and peak RSS are its own and do not
 * leak into the next measurement. The parent passes the input as one JSON argument; the child answers with
 * one IPC message (`{ ok, result }` or `{ ok: false, error }`) and exits.
 */
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';

type ChildReply<T> = { ok: true; result: T; cpuMs: number } | { ok: false; error: string };

/** A child's result and the conditions it was measured under. */
export interface ChildRun<T> {
  result: T;
  conditions: RunConditions;
}

/**
 * How busy the machine was with other work while a child ran: the benches share a two-core machine, and a
 * test suite running beside them halves every throughput number. Linux only (/proc/stat); else undefined.
 */
export interface RunConditions {
  wallMs: number;
  /** CPU time of the child (all threads) plus this process, ms. */
  ownCpuMs: number;
  /** CPU time the whole machine spent busy, ms (undefined without /proc/stat). */
  machineBusyMs: number | undefined;
  /** (machine busy − own) ÷ (wall × CPUs): the share of the machine other processes took. */
  otherLoad: number | undefined;
}

/** Busy and total jiffies of all CPUs, from the first line of /proc/stat. */
function cpuJiffies(): { busy: number; total: number } | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    const total = f.reduce((a, b) => a + b, 0);
    const idle = (f[3] ?? 0) + (f[4] ?? 0); // idle + iowait
    return Number.isFinite(total) && total > 0 ? { busy: total - idle, total } : undefined;
  } catch {
    return undefined;
  }
}

/** Path of a sibling compiled bench file (`dist/bench/<name>.js`). */
export function benchFile(name: string): string {
  return fileURLToPath(new URL(`./${name}.js`, import.meta.url));
}

/**
 * Forks `file` with `input`, waits for its reply and its exit. Children run one at a time (the machine has
 * two cores: two measurements at once would measure each other). stderr/stdout are inherited, so a child's
 * progress lines show up as it runs.
 */
export function runChild<T>(file: string, input: unknown): Promise<ChildRun<T>> {
  return new Promise<ChildRun<T>>((resolvePromise, rejectPromise) => {
    const started = performance.now();
    const ownBefore = process.cpuUsage();
    const jiffiesBefore = cpuJiffies();
    const child = fork(file, [JSON.stringify(input)], {
      // Same flags as the parent (--expose-gc), so a child may collect garbage before it measures.
      execArgv: process.execArgv,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let reply: ChildReply<T> | undefined;
    child.on('message', (m) => {
      reply = m as ChildReply<T>;
    });
    child.on('error', rejectPromise);
    child.on('exit', (code, signal) => {
      if (reply?.ok) {
        const wallMs = performance.now() - started;
        const own = process.cpuUsage(ownBefore);
        const ownCpuMs = reply.cpuMs + (own.user + own.system) / 1000;
        const jiffiesAfter = cpuJiffies();
        // Jiffies → ms by the share of elapsed jiffies (avoids assuming USER_HZ).
        const machineBusyMs =
          jiffiesBefore && jiffiesAfter && jiffiesAfter.total > jiffiesBefore.total
            ? ((jiffiesAfter.busy - jiffiesBefore.busy) / (jiffiesAfter.total - jiffiesBefore.total)) *
              wallMs *
              cpus().length
            : undefined;
        const otherLoad =
          machineBusyMs === undefined
            ? undefined
            : Math.max(0, machineBusyMs - ownCpuMs) / (wallMs * cpus().length);
        resolvePromise({ result: reply.result, conditions: { wallMs, ownCpuMs, machineBusyMs, otherLoad } });
      } else if (reply) rejectPromise(new Error(reply.error));
      else rejectPromise(new Error(`${file} exited (code ${code}, signal ${signal}) without a result`));
    });
  });
}

/** The child side: reads the input, runs `main`, sends the result (or the error) and exits. */
export function childMain<I, O>(main: (input: I) => Promise<O>): void {
  const send = (reply: ChildReply<O>): Promise<void> =>
    new Promise((done) => {
      if (!process.send) {
        // Run by hand, not forked: print the reply instead.
        console.log(JSON.stringify(reply, null, 2));
        done();
        return;
      }
      process.send(reply, () => done());
    });
  const input = JSON.parse(process.argv[2] ?? '{}') as I;
  main(input).then(
    async (result) => {
      const cpu = process.cpuUsage();
      await send({ ok: true, result, cpuMs: (cpu.user + cpu.system) / 1000 });
      process.exit(0);
    },
    async (err: unknown) => {
      await send({ ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
      process.exit(1);
    },
  );
}

/** Peak resident set size of this process so far (all its threads), in KB. */
export function maxRssKb(): number {
  return process.resourceUsage().maxRSS;
}

/** A bench source: a folder root and, optionally, the source id runEmbedded should give it. */
export interface BenchSource {
  root: string;
  id?: string;
}
