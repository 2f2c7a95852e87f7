/**
 * How much of each ORT call is padding, for the embed queue's choices, simulated on the corpus texts in crawl
 * order (no model run): a window of W texts is sorted (by characters or by tokens), cut into tasks of 64, and
 * each task into sorted micro-batches of DEFAULT_MAX_BATCH as the worker does; efficiency = real tokens ÷ (batch × longest).
 * "growing" starts with a window of one task and doubles it on each dispatch, as EmbedQueue does.
 *
 *   npx tsc -p tsconfig.build.json && node dist/bench/padding-windows.js
 */
import { builtinModelSpec, defaultModelName, ensureDefaultModel } from '../src/model/default-model.js';
import { DEFAULT_MAX_BATCH } from '../src/workers/ort-batch.js';
import { createTextTokenizer } from '../src/workers/text-tokenizer.js';
import { corpusTexts, defaultCorpusDir } from './corpus-texts.js';
import { num, table } from './markdown.js';

const TASK = 64;
const MICRO_BATCH = DEFAULT_MAX_BATCH;

/** Real ÷ padded tokens when windows of `window` texts are sorted by `key` before being cut into tasks. */
function efficiency(
  lengths: readonly number[],
  key: readonly number[],
  window: number,
  growing: boolean,
): number {
  let real = 0;
  let padded = 0;
  let w = growing ? Math.min(TASK, window) : window;
  for (let start = 0; start < lengths.length;) {
    const rows: number[] = [];
    for (let i = start; i < Math.min(start + w, lengths.length); i++) rows.push(i);
    start += rows.length;
    if (growing) w = Math.min(w * 2, window);
    rows.sort((a, b) => key[a]! - key[b]!);
    for (let t = 0; t < rows.length; t += TASK) {
      const task = rows
        .slice(t, t + TASK)
        .map((r) => lengths[r]!)
        .sort((a, b) => a - b);
      for (let b = 0; b < task.length; b += MICRO_BATCH) {
        const batch = task.slice(b, b + MICRO_BATCH);
        real += batch.reduce((n, x) => n + x, 0);
        padded += batch.length * Math.max(...batch);
      }
    }
  }
  return real / padded;
}

async function main(): Promise<void> {
  const { texts } = await corpusTexts([{ root: defaultCorpusDir() }]);
  const tokenize = createTextTokenizer(builtinModelSpec(defaultModelName, await ensureDefaultModel()));
  const lengths = texts.map((t) => tokenize(t).length);
  const chars = texts.map((t) => t.length);
  const pct = (x: number): string => `${num(x * 100, 1)} %`;
  console.log(`${texts.length} texts, ${lengths.reduce((n, x) => n + x, 0)} tokens; real ÷ padded tokens:\n`);
  console.log(
    table(
      ['window', 'sorted by characters', 'sorted by tokens', 'by tokens, growing from 64'],
      [128, 256, 512, 1024].map((w) => [
        String(w),
        pct(efficiency(lengths, chars, w, false)),
        pct(efficiency(lengths, lengths, w, false)),
        pct(efficiency(lengths, lengths, w, true)),
      ]),
    ),
  );
}

await main();
