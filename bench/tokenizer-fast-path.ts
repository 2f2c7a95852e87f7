/**
 * The main thread's tokenizer time on the corpus: createTextTokenizer with the library path (Unigram lattice +
 * word cache) against the fast path (unigramFastIds), as the pipeline calls it (each distinct skill text once).
 *
 *   npx tsc -p tsconfig.build.json && node dist/bench/tokenizer-fast-path.js [--reps 21]
 *
 * Each repetition builds a fresh tokenizer of each kind (not timed: only the tokenize calls are) and runs every
 * text twice: the first pass on an empty word cache (what one index run does), the second on a warm one. The
 * kinds alternate which goes first. It checks that both give the same ids, and counts the texts where the plain
 * library (one lattice over the whole text, no word cache) gives other ids (float-sum ties).
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Tokenizer } from '@huggingface/tokenizers';
import { readFileSync } from 'node:fs';
import { builtinModelSpec, defaultModelName, ensureDefaultModel } from '../src/model/default-model.js';
import { createTextTokenizer, type TextTokenizer } from '../src/workers/text-tokenizer.js';
import { cacheUnigramWords } from '../src/workers/unigram-word-cache.js';
import { corpusTexts, defaultCorpusDir } from './corpus-texts.js';
import { median, num, ratio, table } from './markdown.js';

type Kind = 'library' | 'fast';

/** Ms for one pass of `tokenize` over `texts`. */
function pass(tokenize: TextTokenizer, texts: readonly string[]): number {
  const started = performance.now();
  for (const t of texts) tokenize(t);
  return performance.now() - started;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { reps: { type: 'string', default: '21' } } });
  const reps = Number(values.reps);
  if (!Number.isInteger(reps) || reps < 1) throw new Error('--reps must be a positive integer');
  const { texts } = await corpusTexts([{ root: defaultCorpusDir() }]);
  const spec = builtinModelSpec(defaultModelName, await ensureDefaultModel());
  const make = (kind: Kind): TextTokenizer => createTextTokenizer(spec, { fastIds: kind === 'fast' });

  const lib = make('library');
  const fast = make('fast');
  const differ = texts.filter((t) => lib(t).join(' ') !== fast(t).join(' ')).length;
  if (differ > 0) throw new Error(`the fast path gives other ids than the library on ${differ} texts`);
  const json = JSON.parse(readFileSync(spec.tokenizerPath, 'utf8')) as object;
  const config = JSON.parse(readFileSync(join(spec.dir, 'tokenizer_config.json'), 'utf8')) as object;
  const plain = new Tokenizer(json, config);
  const cached = new Tokenizer(json, config);
  cacheUnigramWords(cached, (json as { model?: { type?: unknown; vocab?: unknown } }).model);
  const clip = (t: string): string => t.slice(0, spec.maxTokens * 24);
  const plainIds = texts.map((t) => plain.encode(clip(t)).ids);
  const cachedIds = texts.map((t) => cached.encode(clip(t)).ids);
  const plainDiffer = plainIds.filter((ids, i) => ids.join(' ') !== cachedIds[i]?.join(' ')).length;
  const plainDifferTruncated = plainIds.filter(
    (ids, i) => ids.slice(0, spec.maxTokens).join(' ') !== lib(texts[i] as string).join(' '),
  ).length;

  const times: Record<Kind, { cold: number[]; warm: number[] }> = {
    library: { cold: [], warm: [] },
    fast: { cold: [], warm: [] },
  };
  for (let rep = 0; rep < reps; rep++) {
    const order: Kind[] = rep % 2 === 0 ? ['library', 'fast'] : ['fast', 'library'];
    for (const kind of order) {
      const tokenize = make(kind);
      times[kind].cold.push(pass(tokenize, texts));
      times[kind].warm.push(pass(tokenize, texts));
    }
  }
  const row = (label: string, key: 'cold' | 'warm'): string[] => {
    const a = median(times.library[key]);
    const b = median(times.fast[key]);
    return [label, num(a, 1), num(b, 1), `${num(ratio(b, a), 2)}×`];
  };
  console.log(`${texts.length} distinct texts, ${reps} repetitions (medians, ms of tokenize calls only)\n`);
  console.log(
    table(
      ['word cache', 'library + word cache', 'fast path', 'fast / library'],
      [row('empty (first pass)', 'cold'), row('warm (second pass)', 'warm')],
    ),
  );
  console.log(
    `\nSame ids on all ${texts.length} texts. The plain library (no word cache, one lattice per text) gives ` +
      `other ids than with the word cache on ${plainDiffer} clipped texts, ${plainDifferTruncated} once ` +
      `truncated to ${spec.maxTokens} tokens.`,
  );
}

await main();
