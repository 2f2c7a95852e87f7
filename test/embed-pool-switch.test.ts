import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { BUILTIN_MODELS, ensureDefaultModel } from '../src/model/default-model.js';
import type { ModelSpec } from '../src/model/model-spec.js';
import { EmbedPoolSwitch } from '../src/distributed/embed-pool-switch.js';

// The work role's pool switch with the real models: a job for another model (a re-embed backfill) arriving
// while the first model's tasks hold every thread.
describe('EmbedPoolSwitch', () => {
  const pools = new EmbedPoolSwitch({
    threads: 2,
    defaultModelDir: () => ensureDefaultModel(),
    log: pino({ level: 'silent' }),
  });
  afterAll(async () => await pools.close());

  it('sends a small job for a new model once the old model’s tasks free the threads', async () => {
    const int8: ModelSpec = await pools.resolve({ id: BUILTIN_MODELS['use-lite-en-int8'].id, dim: 512 });
    const fp32: ModelSpec = await pools.resolve({
      id: BUILTIN_MODELS['use-lite-en'].id,
      dim: 512,
      dir: 'use-lite-en',
    });
    // Enough texts that the int8 pool's queue sends several tasks at once: every thread is busy when the
    // float32 job comes, and its 3 texts are fewer than a window.
    const texts = Array.from(
      { length: 600 },
      (_, i) => `skill ${i}: ${'turns slides into a handout '.repeat(i % 9)}`,
    );
    const first = pools.embed(int8, texts);
    while (pools.utilisation() < 1) await new Promise((r) => setTimeout(r, 2));
    const second = pools.embed(fp32, ['one', 'two words', 'three more words']);
    const outcome = await Promise.race([
      second.then((v) => v.length),
      new Promise<string>((r) => setTimeout(() => r('still waiting after 60 s'), 60_000).unref()),
    ]);
    expect(outcome).toBe(3);
    expect((await first).length).toBe(600);
  }, 120_000);

  it('takes jobs for two models in the same tick without sending texts to a pool that is closing', async () => {
    const int8 = await pools.resolve({ id: BUILTIN_MODELS['use-lite-en-int8'].id, dim: 512 });
    const fp32 = await pools.resolve({ id: BUILTIN_MODELS['use-lite-en'].id, dim: 512, dir: 'use-lite-en' });
    const texts = Array.from({ length: 300 }, (_, i) => `skill ${i} writes release notes`);
    // Neither awaited before the other starts: each finds the pool of the other model current.
    const [a, b, c] = await Promise.all([
      pools.embed(int8, texts),
      pools.embed(fp32, texts.slice(0, 40)),
      pools.embed(int8, texts.slice(0, 5)),
    ]);
    expect([a.length, b.length, c.length]).toEqual([300, 40, 5]);
    // Same text, same model, whichever job carried it (not bit-equal: int8 activations are quantized per batch).
    const cosine = a[0]!.reduce((sum, x, i) => sum + x * c[0]![i]!, 0);
    expect(cosine).toBeGreaterThan(0.999);
  }, 120_000);
});
