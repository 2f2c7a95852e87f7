import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { threadCpuNs } from '../src/workers/thread-cpu.js';

function spin(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // busy: this thread's CPU clock must advance
  }
}

describe.runIf(process.platform === 'linux')('threadCpuNs', () => {
  it("advances with the calling thread's work, not with another thread's", async () => {
    const before = threadCpuNs() as number;
    expect(before).toBeGreaterThan(0);
    spin(60);
    const afterSpin = threadCpuNs() as number;
    // At least half the spin: the thread may be descheduled now and then on a busy machine.
    expect(afterSpin - before).toBeGreaterThan(30e6);

    // A worker thread that spins 300 ms while this thread only waits: this thread's clock barely moves.
    const worker = new Worker(
      `const end = performance.now() + 300; while (performance.now() < end) {} require('node:worker_threads').parentPort.postMessage('done');`,
      { eval: true },
    );
    const waitStart = threadCpuNs() as number;
    await new Promise((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    const waited = (threadCpuNs() as number) - waitStart;
    await worker.terminate();
    expect(waited).toBeLessThan(150e6);
  });
});
