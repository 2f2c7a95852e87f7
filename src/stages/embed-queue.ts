import type { EmbedResult } from '../shared/messages.js';

/** Options of {@link EmbedQueue}. */
export interface EmbedQueueOptions {
  /** Texts collected before they are sorted and sent. Default 256. */
  window?: number;
  /** Texts per task sent to a worker. Default 64. */
  taskSize?: number;
}

interface Waiting {
  text: string;
  resolve: (v: Float32Array) => void;
  reject: (e: unknown) => void;
}

/**
 * Collects texts from many write batches and sends them to the pool sorted by length, so each worker task
 * holds texts of similar length and pads little. Sorting within one 128-skill batch left 16 % of every
 * ORT call as padding; a window of a few hundred texts brings it close to a global sort.
 *
 * Callers must {@link dispatch} before waiting on anything that waits on queued texts (backpressure, the
 * end of a run), or the queue would hold texts nobody sends.
 */
export class EmbedQueue {
  private waiting: Waiting[] = [];
  private readonly window: number;
  private readonly taskSize: number;

  constructor(
    private readonly run: (texts: string[]) => Promise<EmbedResult>,
    options: EmbedQueueOptions = {},
  ) {
    this.window = options.window ?? 256;
    this.taskSize = options.taskSize ?? 64;
  }

  /** The vector of one text, once it has been embedded. */
  embed(text: string): Promise<Float32Array> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ text, resolve, reject });
      if (this.waiting.length >= this.window) this.dispatch();
    });
  }

  /** Sends everything waiting, sorted by length (characters: a cheap proxy the worker refines by tokens). */
  dispatch(): void {
    if (this.waiting.length === 0) return;
    const items = this.waiting.sort((a, b) => a.text.length - b.text.length);
    this.waiting = [];
    for (let start = 0; start < items.length; start += this.taskSize) {
      const task = items.slice(start, start + this.taskSize);
      this.run(task.map((t) => t.text)).then(
        (r) => task.forEach((t, i) => t.resolve(r.vectors.subarray(i * r.dim, (i + 1) * r.dim))),
        (err: unknown) => task.forEach((t) => t.reject(err)),
      );
    }
  }
}
