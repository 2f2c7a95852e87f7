/**
 * Ranking experiments for issue 14, item 4: each idea is scored offline over the reader's own candidate lists,
 * on one split. Settings are chosen on `--split tune`; a chosen candidate is then scored once on test
 * (`--split test --only NAME,...`). docs/search-quality.md records every number.
 *
 *   npm run build && node dist/bench/eval/ranking-experiments.js --split tune
 *   node dist/bench/eval/ranking-experiments.js --split test --only baseline,stop-phrases
 *
 * The lists are the reader's (FtsSearch, FieldSearch, VectorSearch over the eval index), 50 deep; `baseline`
 * reproduces the shipped hybrid ranking exactly, so every row differs from it by the one idea it names.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { ensureDefaultModel } from '../../src/model/default-model.js';
import { loadModelSpec } from '../../src/model/model-spec.js';
import { FieldSearch } from '../../src/reader/field-search.js';
import { normalizeFilters } from '../../src/reader/filters.js';
import { FtsSearch } from '../../src/reader/fts-search.js';
import { cjkShare, ftsTerms } from '../../src/reader/fts-query.js';
import { reciprocalRankFusion } from '../../src/reader/fusion.js';
import { chooseModel } from '../../src/reader/skill-index.js';
import { VectorSearch } from '../../src/reader/vector-search.js';
import { createEmbedder, type Embedder } from '../../src/workers/embedder.js';
import { num, table } from '../markdown.js';
import type { Split } from './split.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const DEPTH = 50;
const FILTERS = normalizeFilters(undefined);

interface Query {
  query: string;
  relevant: string[];
  lang: string;
  split: Split;
}

/** Everything one query's variants are built from. */
interface Lists {
  q: Query;
  fts: string[];
  field: string[];
  vector: string[];
  /** Vector list of the query without its request phrases. */
  vectorStripped: string[];
  /** The query vector (undefined when the vector list is left out: mostly CJK). */
  qv: Float32Array | undefined;
}

/**
 * Request phrases that say nothing about the skill wanted ("I want to", "how do I", "help me"). Matched at
 * word boundaries, case-insensitively; what is left is embedded instead of the whole query.
 */
const STOP_PHRASES = [
  'is there a way to',
  "what's the best way to",
  'what is the best way to',
  'i would like to',
  "i'd like to",
  'i want to',
  'i need to',
  'i have to',
  'how do i',
  'how can i',
  'how should i',
  'how to',
  'can you',
  'could you',
  'help me',
  'show me',
  'tell me',
  'give me',
  'let me',
  'i want',
  'i need',
  'please',
];

export function stripStopPhrases(text: string): string {
  let out = ` ${text.toLowerCase()} `;
  for (const p of STOP_PHRASES) out = out.split(` ${p} `).join(' ');
  const stripped = out.replace(/\s+/g, ' ').trim();
  return stripped.length > 0 ? stripped : text;
}

function metrics(ranks: (number | null)[]): { r1: number; r5: number; r10: number; mrr: number } {
  const n = ranks.length;
  const at = (k: number): number => ranks.filter((r) => r !== null && r <= k).length / n;
  const mrr = ranks.reduce<number>((s, r) => s + (r === null || r > 10 ? 0 : 1 / r), 0) / n;
  return { r1: at(1), r5: at(5), r10: at(10), mrr };
}

function rankOf(ids: readonly string[], relevant: readonly string[]): number | null {
  const i = ids.findIndex((id) => relevant.includes(id));
  return i < 0 || i >= 10 ? null : i + 1;
}

interface Fuse {
  k: number;
  field: number;
  vector: number;
}
const SHIPPED: Fuse = { k: 5, field: 0.75, vector: 0.5 };

function fuse(
  l: Lists,
  f: Fuse,
  vector: readonly string[] = l.vector,
  extra: [string[], number][] = [],
): string[] {
  const lists = [l.fts, vector, l.field, ...extra.map((e) => e[0])];
  const weights = [1, f.vector, f.field, ...extra.map((e) => e[1])];
  return reciprocalRankFusion(lists, { k: f.k, weights }).map((h) => h.id);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      split: { type: 'string', default: 'tune' },
      db: { type: 'string', default: path.join(REPO, 'bench-out', 'eval-index.db') },
      only: { type: 'string' },
    },
  });
  const split = values.split as Split | 'all';
  const only = values.only?.split(',');
  const all = JSON.parse(readFileSync(path.join(REPO, 'bench', 'eval', 'queries.json'), 'utf8')) as Query[];
  const queries = split === 'all' ? all : all.filter((q) => q.split === split);

  const db = new Database(values.db as string, { readonly: true });
  const model = chooseModel(db, undefined);
  if (!model) throw new Error('the index has no vectors');
  const modelDir = await ensureDefaultModel();
  const embedder: Embedder = await createEmbedder(loadModelSpec(modelDir), {
    intraOpThreads: 1,
    maxBatch: 32,
  });
  const embed = async (text: string): Promise<Float32Array> => (await embedder.embed([text])).vectors;
  const fts = new FtsSearch(db);
  const field = new FieldSearch(db);
  const vectors = new VectorSearch(db, model);
  const vecIds = (v: Float32Array | undefined): string[] =>
    v ? vectors.search(v, DEPTH, FILTERS).map((h) => h.id) : [];

  // Skill vectors (chunk 0) and name + description, for the feedback and multi-vector variants.
  const skillVec = new Map<string, Float32Array>();
  for (const r of db
    .prepare(`SELECT skill_id AS id, vector FROM skill_embeddings WHERE model_id = ? AND chunk = 0`)
    .iterate(model.id) as Iterable<{ id: string; vector: Buffer }>) {
    skillVec.set(
      r.id,
      new Float32Array(r.vector.buffer.slice(r.vector.byteOffset, r.vector.byteOffset + r.vector.byteLength)),
    );
  }
  const skillText = new Map<string, { name: string; description: string; body: string }>();
  for (const r of db
    .prepare(`SELECT id, name, description, body FROM skills WHERE removed_at IS NULL`)
    .iterate() as Iterable<{ id: string; name: string; description: string; body: string }>) {
    skillText.set(r.id, r);
  }

  const lists: Lists[] = [];
  for (const q of queries) {
    const readable = cjkShare(q.query) <= 0.5;
    const qv = readable ? await embed(q.query) : undefined;
    const sv = readable ? await embed(stripStopPhrases(q.query)) : undefined;
    lists.push({
      q,
      fts: fts.search(q.query, DEPTH, FILTERS).map((h) => h.id),
      field: field.search(q.query, DEPTH, FILTERS).map((h) => h.id),
      vector: vecIds(qv),
      vectorStripped: vecIds(sv),
      qv,
    });
  }

  type Variant = { name: string; run: (l: Lists) => Promise<string[]> | string[] };
  const variants: Variant[] = [
    { name: 'baseline', run: (l) => fuse(l, SHIPPED) },
    { name: 'stop-phrases', run: (l) => fuse(l, SHIPPED, l.vectorStripped) },
    {
      name: 'rrf60 (fts + vector)',
      run: (l) => reciprocalRankFusion([l.fts, l.vector], { k: 60 }).map((h) => h.id),
    },
  ];

  // RRF grid: every (k, field, vector) setting; the robust pick is the one whose neighbourhood (the settings
  // one grid step away) has the best mean MRR, not the single best cell.
  const ks = [2, 3, 5, 10, 20, 60];
  const fws = [0.5, 0.75, 1, 1.5];
  const vws = [0.25, 0.5, 0.75, 1];
  for (const k of ks)
    for (const fw of fws)
      for (const vw of vws)
        variants.push({
          name: `grid k${k} f${fw} v${vw}`,
          run: (l) => fuse(l, { k, field: fw, vector: vw }),
        });

  // Vector pseudo-relevance feedback (Rocchio): q' = q + beta * mean(top m fused skills' vectors), re-search.
  for (const m of [1, 3, 5])
    for (const beta of [0.25, 0.5, 1]) {
      variants.push({
        name: `prf-vector m${m} b${beta}`,
        run: (l) => {
          const first = fuse(l, SHIPPED);
          if (!l.qv) return first;
          const v = Float32Array.from(l.qv);
          const top = first
            .slice(0, m)
            .flatMap((id) => (skillVec.has(id) ? [skillVec.get(id) as Float32Array] : []));
          for (const t of top)
            for (let d = 0; d < v.length; d++)
              v[d] = (v[d] as number) + (beta / top.length) * (t[d] as number);
          let norm = 0;
          for (const x of v) norm += x * x;
          for (let d = 0; d < v.length; d++) v[d] = (v[d] as number) / Math.sqrt(norm);
          return fuse(l, SHIPPED, vecIds(v));
        },
      });
    }

  // Text pseudo-relevance feedback: the words the top m fused skills' names and descriptions share most
  // (rare ones first), added to the query; the name + description list of the expanded query joins the fusion.
  const df = new Map<string, number>();
  for (const s of skillText.values())
    for (const w of new Set(ftsTerms(`${s.name} ${s.description}`).map((t) => t.fts)))
      df.set(w, (df.get(w) ?? 0) + 1);
  const nDocs = skillText.size;
  /** The name + description list of the query expanded with the top m fused skills' shared, rarest words. */
  const prfTextList = (l: Lists, first: readonly string[], m: number, t: number): string[] | undefined => {
    const have = new Set(ftsTerms(l.q.query).map((x) => x.fts));
    const count = new Map<string, number>();
    for (const id of first.slice(0, m)) {
      const s = skillText.get(id);
      if (!s) continue;
      const words = ftsTerms(`${s.name} ${s.description}`).filter((y) => !y.cjk);
      for (const x of new Set(words.map((y) => y.fts)))
        if (!have.has(x)) count.set(x, (count.get(x) ?? 0) + 1);
    }
    const chosen = [...count]
      .filter(([, c]) => c >= Math.min(2, m))
      .map(([x, c]) => [x, c * Math.log(nDocs / (df.get(x) ?? 1))] as const)
      .sort((a, b) => b[1] - a[1])
      .slice(0, t)
      .map(([x]) => x.replace(/^"|"\*?$/g, ''));
    if (chosen.length === 0) return undefined;
    return field.search(`${l.q.query} ${chosen.join(' ')}`, DEPTH, FILTERS).map((h) => h.id);
  };
  for (const m of [2, 3])
    for (const t of [3, 6])
      for (const w of [0.5, 1]) {
        variants.push({
          name: `prf-text m${m} t${t} w${w}`,
          run: (l) => {
            const first = fuse(l, SHIPPED);
            const expanded = prfTextList(l, first, m, t);
            return expanded ? fuse(l, SHIPPED, l.vector, [[expanded, w]]) : first;
          },
        });
      }

  // Several vectors per skill: description sentences and body section headings, each embedded with the
  // name; a skill scores by its best vector (max-sim). The list replaces the single-vector list.
  const wantMulti = !only || only.some((o) => o.startsWith('multi'));

  // Rarer query words weigh more: the name + description list scored as BM25F with idf^p (p = 1 is the
  // shipped FieldSearch), and the same list with words found in over 5 % of names + descriptions dropped.
  const matchStmt = db.prepare(`SELECT rowid FROM skills_fts WHERE skills_fts MATCH ?`).pluck();
  const docOf = new Map<number, { id: string; nameLen: number; descLen: number }>();
  let nameSum = 0;
  let descSum = 0;
  const TOKEN = /[\p{L}\p{N}][\p{L}\p{N}\p{M}]*/gu;
  for (const r of db
    .prepare(`SELECT rowid, id, name, description FROM skills WHERE removed_at IS NULL`)
    .iterate() as Iterable<{
    rowid: number;
    id: string;
    name: string;
    description: string;
  }>) {
    const d = {
      id: r.id,
      nameLen: r.name.match(TOKEN)?.length ?? 0,
      descLen: r.description.match(TOKEN)?.length ?? 0,
    };
    docOf.set(r.rowid, d);
    nameSum += d.nameLen;
    descSum += d.descLen;
  }
  const avgName = Math.max(nameSum / docOf.size, 1);
  const avgDesc = Math.max(descSum / docOf.size, 1);
  const fieldIdf = (text: string, p: number, maxShare: number): string[] => {
    const scores = new Map<number, number>();
    for (const t of ftsTerms(text).filter((x) => !x.cjk)) {
      const inName = new Set(matchStmt.all(`name : ${t.fts}`) as number[]);
      const inDesc = new Set(matchStmt.all(`description : ${t.fts}`) as number[]);
      const matched = new Set([...inName, ...inDesc]);
      if (matched.size === 0 || matched.size / docOf.size > maxShare) continue;
      const idf = Math.log(1 + (docOf.size - matched.size + 0.5) / (matched.size + 0.5)) ** p;
      for (const rowid of matched) {
        const d = docOf.get(rowid);
        if (!d) continue;
        let tf = 0;
        if (inName.has(rowid)) tf += 1 / (0.25 + (0.75 * d.nameLen) / avgName);
        if (inDesc.has(rowid)) tf += 1 / (0.25 + (0.75 * d.descLen) / avgDesc);
        scores.set(rowid, (scores.get(rowid) ?? 0) + (idf * tf * 2.2) / (tf + 1.2));
      }
    }
    return [...scores]
      .sort((a, b) => b[1] - a[1])
      .slice(0, DEPTH)
      .map(([rowid]) => (docOf.get(rowid) as { id: string }).id);
  };
  for (const [p, share] of [
    [1, 1],
    [1.5, 1],
    [2, 1],
    [1, 0.05],
    [1, 0.02],
    [2, 0.05],
  ] as const) {
    variants.push({
      name: `rare-terms idf^${p} max-df ${share}`,
      run: (l) => fuse({ ...l, field: fieldIdf(l.q.query, p, share) }, SHIPPED),
    });
  }
  const ROBUST: Fuse = { k: 3, field: 1, vector: 1 };
  variants.push({ name: 'combo robust + stop-phrases', run: (l) => fuse(l, ROBUST, l.vectorStripped) });
  for (const [label, f] of [
    ['robust', ROBUST],
    ['shipped', SHIPPED],
  ] as const) {
    variants.push({
      name: `combo ${label} + stop-phrases + prf-text m3 t3 w0.5`,
      run: (l) => {
        const first = fuse(l, f, l.vectorStripped);
        const expanded = prfTextList(l, first, 3, 3);
        return expanded ? fuse(l, f, l.vectorStripped, [[expanded, 0.5]]) : first;
      },
    });
  }
  if (wantMulti) {
    const rows: { id: string; v: Float32Array }[] = [];
    const texts: { id: string; text: string }[] = [];
    for (const [id, s] of skillText) {
      const name = s.name.replace(/[-_]+/g, ' ');
      const sentences = s.description.split(/(?<=[.!?。])\s+/).filter((x) => x.trim().length > 15);
      const headings = [...s.body.matchAll(/^#{2,3}\s+(.+)$/gm)]
        .map((h) => (h[1] as string).trim())
        .slice(0, 8);
      for (const x of [...sentences.slice(0, 6), ...headings]) texts.push({ id, text: `${name}. ${x}` });
    }
    for (let i = 0; i < texts.length; i += 64) {
      const batch = texts.slice(i, i + 64);
      const r = await embedder.embed(batch.map((b) => b.text));
      batch.forEach((b, j) => rows.push({ id: b.id, v: r.vectors.slice(j * r.dim, (j + 1) * r.dim) }));
    }
    for (const [id, v] of skillVec) rows.push({ id, v });
    console.error(`multi-vector: ${rows.length} vectors for ${skillVec.size} skills`);
    const maxSim = (qv: Float32Array | undefined): string[] => {
      if (!qv) return [];
      const best = new Map<string, number>();
      for (const r of rows) {
        let dot = 0;
        for (let d = 0; d < qv.length; d++) dot += (qv[d] as number) * (r.v[d] as number);
        if (dot > (best.get(r.id) ?? -Infinity)) best.set(r.id, dot);
      }
      return [...best]
        .sort((a, b) => b[1] - a[1])
        .slice(0, DEPTH)
        .map(([id]) => id);
    };
    variants.push({ name: 'multi-vector max-sim', run: (l) => fuse(l, SHIPPED, maxSim(l.qv)) });
    variants.push({
      name: 'multi-vector + single (4 lists)',
      run: (l) => fuse(l, SHIPPED, l.vector, [[maxSim(l.qv), SHIPPED.vector]]),
    });
  }

  const rowsOut: string[][] = [];
  const byName = new Map<string, ReturnType<typeof metrics>>();
  for (const v of variants) {
    if (only && !only.some((o) => v.name === o || (o.endsWith('*') && v.name.startsWith(o.slice(0, -1)))))
      continue;
    const ranks: (number | null)[] = [];
    for (const l of lists) ranks.push(rankOf(await v.run(l), l.q.relevant));
    const m = metrics(ranks);
    byName.set(v.name, m);
    if (!v.name.startsWith('grid ')) rowsOut.push([v.name, pct(m.r1), pct(m.r5), pct(m.r10), num(m.mrr, 3)]);
  }
  // Grid: best cell and robust cell.
  const grid = [...byName].filter(([n]) => n.startsWith('grid '));
  if (grid.length > 0) {
    const cell = (k: number, f: number, v: number) => byName.get(`grid k${k} f${f} v${v}`);
    let robust: [string, number] = ['', -1];
    for (const [ki, k] of ks.entries())
      for (const [fi, f] of fws.entries())
        for (const [vi, v] of vws.entries()) {
          const around: number[] = [];
          for (const dk of [-1, 0, 1])
            for (const df2 of [-1, 0, 1])
              for (const dv of [-1, 0, 1]) {
                const c = cell(ks[ki + dk] as number, fws[fi + df2] as number, vws[vi + dv] as number);
                if (c) around.push(c.mrr + c.r5);
              }
          const mean = around.reduce((a, b) => a + b, 0) / around.length;
          if (mean > robust[1]) robust = [`grid k${k} f${f} v${v}`, mean];
        }
    const best = grid.sort((a, b) => b[1].mrr + b[1].r5 - (a[1].mrr + a[1].r5))[0];
    for (const [label, name] of [
      ['grid best (R@5 + MRR)', best?.[0]],
      ['grid robust (neighbourhood mean)', robust[0]],
    ] as const) {
      const m = name ? byName.get(name) : undefined;
      if (m) rowsOut.push([`${label}: ${name}`, pct(m.r1), pct(m.r5), pct(m.r10), num(m.mrr, 3)]);
    }
  }
  console.log(`## Ranking experiments, split ${split} (${lists.length} queries)\n`);
  console.log(table(['variant', 'R@1', 'R@5', 'R@10', 'MRR'], rowsOut));
  await embedder.release();
  db.close();
}

const pct = (x: number): string => `${num(x * 100, 1)}`;

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
