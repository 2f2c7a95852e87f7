import { describe, expect, it } from 'vitest';
import type { EmbedResult } from '../src/shared/messages.js';
import { EmbedQueue, type TokenEmbedder } from '../src/stages/embed-queue.js';

/**
 * A deterministic stand-in for the pool, for the queue's mechanics only: one token per character, and each
 * vector is [token count, first id]. It records every task it is sent.
 */
function recordingEmbedder(reject?: (ids: number[][]) => boolean): TokenEmbedder & { tasks: number[][][] } {
  const tasks: number[][][] = [];
  return {
    tasks,
    tokenize(text) {
      if (text.includes('\u0000')) throw new Error('tokenizer refused a NUL');
      return [...text].map((c) => c.codePointAt(0)!);
    },
    embedTokens(ids): Promise<EmbedResult> {
      tasks.push(ids);
      if (reject?.(ids)) return Promise.reject(new Error('model failed'));
      const vectors = new Float32Array(ids.length * 2);
      ids.forEach((seq, i) => vectors.set([seq.length, seq[0] ?? -1], i * 2));
      return Promise.resolve({ vectors, dim: 2, tokens: ids.reduce((n, s) => n + s.length, 0) });
    },
  };
}

describe('EmbedQueue', () => {
  it('sends tasks sorted by token count, the window doubling from one task up to its cap', async () => {
    const embedder = recordingEmbedder();
    const queue = new EmbedQueue(embedder, { window: 8, taskSize: 2 });
    const lengths = [9, 3, 7, 1, 5, 8, 2, 6, 4, 10, 12, 11, 13, 14, 15, 16, 17];
    const texts = lengths.map((n) => 'abcdefghijklmnopq'.slice(0, n));
    const vectors = texts.map((t) => queue.embed(t));
    queue.dispatch();
    const got = await Promise.all(vectors);
    // Each text gets its own vector back, whatever task it went in.
    expect(got.map((v) => v[0])).toEqual(lengths);
    // Windows of 2, 4 and 8 texts, then the last 3 on dispatch(); each window sorted, in tasks of 2.
    expect(embedder.tasks.map((t) => t.map((s) => s.length))).toEqual([
      [3, 9],
      [1, 5],
      [7, 8],
      [2, 4],
      [6, 10],
      [11, 12],
      [13, 14],
      [15, 16],
      [17],
    ]);
  });

  it('fails only the text its tokenizer rejects, and only the task a model failure hits', async () => {
    const embedder = recordingEmbedder((ids) => ids.some((s) => s[0] === 'x'.codePointAt(0)));
    const queue = new EmbedQueue(embedder, { window: 8, taskSize: 2 });
    const texts = ['aa', 'bad\u0000', 'bbbb', 'xxxxx', 'cccccc'];
    const vectors = texts.map((t) => queue.embed(t));
    queue.dispatch();
    const settled = await Promise.allSettled(vectors);
    // 'aa' and 'bbbb' fill the first window (a task of 2); 'xxxxx' and 'cccccc' go together on dispatch(),
    // and the model failure of that task fails both.
    expect(settled.map((s) => s.status)).toEqual([
      'fulfilled',
      'rejected',
      'fulfilled',
      'rejected',
      'rejected',
    ]);
    expect((settled[1] as PromiseRejectedResult).reason).toEqual(new Error('tokenizer refused a NUL'));
    expect((settled[3] as PromiseRejectedResult).reason).toEqual(new Error('model failed'));
    expect(embedder.tasks.flat().length).toBe(4);
  });
});
