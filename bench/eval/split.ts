/**
 * The fixed tune / test split of `bench/eval/queries.json`, by target skill.
 *
 * Every query stores its split (`"split": "tune" | "test"`), so the split never changes once written. This file
 * holds the rule that assigned it, the checks the eval runs before scoring, and a small CLI to give new queries
 * a split (it fills only queries that have none, and never moves a stored one):
 *
 *   node dist/bench/eval/split.js            check the stored split, print its sizes
 *   node dist/bench/eval/split.js --assign   also write a split into queries that have none
 *
 * The rule. Queries are grouped into components: two queries are in one component when they share a relevant
 * skill, where a skill is known by its folder name (so the translated `docs/zh-CN/…` copy of a skill and the
 * skill itself count as one). A component holding any query of the first eval (`origin` "v1", the queries the
 * shipped settings were chosen on) is tune. Any other component is test when
 * fnv1a32(SEED + its smallest skill name) / 2^32 < TEST_SHARE, else tune. TEST_SHARE is set so that, with the
 * v1 components all in tune, about 40 % of the target skills are in test.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export type Split = 'tune' | 'test';
export const SPLITS: readonly Split[] = ['tune', 'test'];
const SEED = 'skillsmith-eval-split-2026-12';
const TEST_SHARE = 0.55;
/** Two queries in different splits sharing this share of their words are near-duplicates (a leak). */
const NEAR_DUPLICATE = 0.6;

/** The fields of a query the split needs. */
export interface SplitQuery {
  query: string;
  relevant: string[];
  origin?: string | undefined;
  split?: Split | undefined;
}

/** A skill's identity for the split: its folder name, lower-cased (copies of one skill share it). */
export function skillKey(id: string): string {
  return (id.split('/').pop() ?? id).toLowerCase();
}

function fnv1a32(text: string): number {
  let h = 0x811c9dc5;
  for (const byte of Buffer.from(text, 'utf8')) {
    h ^= byte;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** Connected components of queries that share a skill key; each is a list of query indexes. */
function components(queries: readonly SplitQuery[]): number[][] {
  const parent = queries.map((_, i) => i);
  const find = (i: number): number => {
    while (parent[i] !== i) i = parent[i] = parent[parent[i] as number] as number;
    return i;
  };
  const owner = new Map<string, number>();
  queries.forEach((q, i) => {
    for (const key of q.relevant.map(skillKey)) {
      const j = owner.get(key);
      if (j === undefined) owner.set(key, i);
      else parent[find(i)] = find(j);
    }
  });
  const groups = new Map<number, number[]>();
  queries.forEach((_, i) => {
    const root = find(i);
    groups.set(root, [...(groups.get(root) ?? []), i]);
  });
  return [...groups.values()];
}

/** The split the rule gives each query (ignores any stored split). */
export function ruleSplits(queries: readonly SplitQuery[]): Split[] {
  const out: Split[] = queries.map(() => 'tune');
  for (const group of components(queries)) {
    const keys = group.flatMap((i) => (queries[i]?.relevant ?? []).map(skillKey)).sort();
    const v1 = group.some((i) => queries[i]?.origin === 'v1');
    const split: Split = !v1 && fnv1a32(`${SEED}:${keys[0] ?? ''}`) / 2 ** 32 < TEST_SHARE ? 'test' : 'tune';
    for (const i of group) out[i] = split;
  }
  return out;
}

const words = (text: string): Set<string> =>
  new Set(
    text
      .toLowerCase()
      .split(/[^\p{L}\p{N}]+/u)
      .filter((w) => w.length > 2),
  );

function jaccard(a: ReadonlySet<string>, b: ReadonlySet<string>): number {
  let shared = 0;
  for (const w of a) if (b.has(w)) shared++;
  const union = a.size + b.size - shared;
  return union === 0 ? 0 : shared / union;
}

/**
 * What is wrong with the stored split, one line per problem: a query without a split, a skill judged relevant
 * in both splits, near-duplicate query texts across the splits. Empty when the split is sound.
 */
export function splitProblems(queries: readonly SplitQuery[]): string[] {
  const problems: string[] = [];
  const splitOf = new Map<string, Split>();
  queries.forEach((q, i) => {
    if (q.split === undefined) {
      problems.push(`query ${i} ("${q.query}") has no split`);
      return;
    }
    for (const key of q.relevant.map(skillKey)) {
      const other = splitOf.get(key);
      if (other !== undefined && other !== q.split)
        problems.push(`skill "${key}" is relevant in both splits`);
      splitOf.set(key, q.split);
    }
  });
  const tune = queries.filter((q) => q.split === 'tune').map((q) => ({ q, w: words(q.query) }));
  const test = queries.filter((q) => q.split === 'test').map((q) => ({ q, w: words(q.query) }));
  for (const a of tune) {
    for (const b of test) {
      const j = jaccard(a.w, b.w);
      if (j >= NEAR_DUPLICATE) {
        problems.push(`near-duplicate across splits (${j.toFixed(2)}): "${a.q.query}" / "${b.q.query}"`);
      }
    }
  }
  return [...new Set(problems)];
}

/** Sizes of each split: queries and distinct target skills (first relevant id). */
export function splitSizes(
  queries: readonly SplitQuery[],
): Record<Split, { queries: number; targets: number }> {
  const sizes = { tune: { queries: 0, targets: 0 }, test: { queries: 0, targets: 0 } };
  for (const s of SPLITS) {
    const qs = queries.filter((q) => q.split === s);
    sizes[s] = { queries: qs.length, targets: new Set(qs.map((q) => q.relevant[0])).size };
  }
  return sizes;
}

function main(): void {
  const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
  const file = path.join(repo, 'bench', 'eval', 'queries.json');
  const assign = process.argv.includes('--assign');
  const queries = JSON.parse(readFileSync(file, 'utf8')) as SplitQuery[];
  const rule = ruleSplits(queries);
  let filled = 0;
  let differ = 0;
  queries.forEach((q, i) => {
    if (q.split === undefined && assign) {
      q.split = rule[i];
      filled++;
    } else if (q.split !== undefined && q.split !== rule[i]) differ++;
  });
  if (filled > 0) writeFileSync(file, `${JSON.stringify(queries, null, 2)}\n`);
  const sizes = splitSizes(queries);
  console.log(
    `tune: ${sizes.tune.queries} queries, ${sizes.tune.targets} targets; ` +
      `test: ${sizes.test.queries} queries, ${sizes.test.targets} targets` +
      (filled > 0 ? `; assigned ${filled}` : '') +
      (differ > 0 ? `; ${differ} stored splits differ from today's rule (kept: the split never moves)` : ''),
  );
  const problems = splitProblems(queries);
  for (const p of problems) console.error(`split: ${p}`);
  process.exit(problems.length > 0 ? 1 : 0);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
