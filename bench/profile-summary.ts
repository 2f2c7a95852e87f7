/**
 * Where the core-seconds of an embedded index go: runs `pipeline-child` (one `runEmbedded` of the corpus into a
 * fresh database) under `node --cpu-prof`, which writes one profile per thread (the main thread and each piscina
 * worker), then sums the self time of every sample by category (model inference, tokenizer, YAML, crawl/fs,
 * SQLite, hashing, GC, idle …) and prints a markdown table.
 *
 *   npm run build && node dist/bench/profile-summary.js [--corpus DIR] [--keep DIR]
 *   node dist/bench/profile-summary.js --profiles DIR --cpu-ms N --skills N   (summarise existing profiles)
 *
 * A sampling profiler sees wall time per thread: a thread that is runnable but waiting for a core is counted in
 * whatever it was running. The non-idle samples are therefore scaled to the process CPU time the child measured
 * (`process.cpuUsage`, all threads), and the table gives both. Native frames (no script URL: ORT's session
 * run, better-sqlite3's statements, V8 builtins) are charged to the nearest JavaScript caller's category.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ensureDefaultModel } from '../src/model/default-model.js';
import { cpuBudget } from '../src/workers/cpu-budget.js';
import { benchFile } from './child.js';
import { num, table } from './markdown.js';
import { defaultCorpusDir } from './corpus-texts.js';
import type { PipelineInput, PipelineResult } from './pipeline-child.js';

interface CallFrame {
  functionName: string;
  url: string;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Categories, tried in order: the first whose test matches a frame's URL (or name) wins. */
const CATEGORIES: [string, (f: CallFrame) => boolean][] = [
  ['idle', (f) => f.functionName === '(idle)'],
  ['GC', (f) => f.functionName === '(garbage collector)'],
  // Session creation runs in the constructor of ORT's session handler (native, charged to it): model load.
  [
    'model load (ORT session create, tokenizer build)',
    (f) =>
      (/onnxruntime-(node|common)/.test(f.url) && /SessionHandler|initOrt|create/.test(f.functionName)) ||
      (f.url.includes('@huggingface/tokenizers') &&
        /^(Unigram|create_tokenizer_model|Tokenizer)$/.test(f.functionName)) ||
      (f.url.endsWith('/workers/unigram-fast-ids.js') &&
        /^(unigramVocabulary|unigramFastIds)$/.test(f.functionName)),
  ],
  ['model: ORT session.run', (f) => /onnxruntime-(node|common)/.test(f.url)],
  ['model: tensors in/out + pooling (embedder.js)', (f) => f.url.endsWith('/workers/embedder.js')],
  [
    'tokenizer',
    (f) =>
      f.url.includes('@huggingface/tokenizers') ||
      /\/workers\/(unigram-fast-ids|unigram-word-cache|text-tokenizer)\.js$/.test(f.url),
  ],
  // `yaml`, and js-yaml with its eligibility scan (the fast path of plain front matter, since 2026-12-02).
  [
    'YAML parse',
    (f) => /\/node_modules\/(js-)?yaml\//.test(f.url) || f.url.endsWith('/stages/front-matter-fast-read.js'),
  ],
  [
    'front matter + validation (parse-skill, zod)',
    (f) =>
      /\/(producer\/parse-skill|producer\/front-matter-recovery|shared\/front-matter|shared\/parse-rules)\.js$/.test(
        f.url,
      ) || f.url.includes('/node_modules/zod/'),
  ],
  ['hashing (sha256)', (f) => /crypto\/hash|shared\/content-hash\.js$/.test(f.url)],
  [
    'crawl + fs (dir-source, skill-text, node:fs)',
    (f) =>
      /\/producer\/(dir-source|skill-text|sibling-problems)\.js$/.test(f.url) ||
      /^node:(fs|internal\/fs)/.test(f.url),
  ],
  ['SQLite writes + FTS (index-writer, better-sqlite3)', (f) => /\/writer\/|better-sqlite3/.test(f.url)],
  [
    'pipeline (triage, batching, queues)',
    (f) => /\/(pipeline|stages|embedded)\//.test(f.url) || /\/model\/text-config\.js$/.test(f.url),
  ],
  [
    'threads: piscina + messages',
    (f) => /piscina|node:internal\/(worker|per_context\/messageport)|embed-(pool|worker)\.js$/.test(f.url),
  ],
  [
    'start-up: module loading + compile',
    (f) => /node:internal\/(modules|vm)|^node:internal\/main/.test(f.url),
  ],
  ['V8/native outside JS ((program))', (f) => f.functionName === '(program)'],
];

function categoryOf(frame: CallFrame): string | undefined {
  return CATEGORIES.find(([, test]) => test(frame))?.[0];
}

/** Self time by category of one thread's profile, and the frames left as "other" (to refine the rules). */
function summarise(profile: CpuProfile, totals: Map<string, number>, others: Map<string, number>): void {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const memo = new Map<number, string>();
  const classify = (id: number): string => {
    const cached = memo.get(id);
    if (cached) return cached;
    const node = byId.get(id) as ProfileNode;
    let cat = categoryOf(node.callFrame);
    // Native code and builtins have no URL: charge them to the JavaScript that called them.
    if (cat === undefined && node.callFrame.url === '' && parent.has(id)) {
      const up = classify(parent.get(id) as number);
      cat = up === '(root)' ? undefined : up;
    }
    if (cat === undefined && node.callFrame.functionName === '(root)') cat = '(root)';
    cat ??= 'other JS';
    memo.set(id, cat);
    return cat;
  };
  profile.samples.forEach((id, i) => {
    const us = profile.timeDeltas[i] ?? 0;
    const cat = classify(id);
    totals.set(cat, (totals.get(cat) ?? 0) + us);
    if (cat === 'other JS') {
      const f = (byId.get(id) as ProfileNode).callFrame;
      const key = `${f.functionName || '(anonymous)'} ${f.url.replace(/^.*node_modules\//, '')}`;
      others.set(key, (others.get(key) ?? 0) + us);
    }
  });
}

export interface ProfileSummary {
  /** Per thread kind (main / worker) and category, sampled ms. */
  sampledMs: Record<string, Record<string, number>>;
  cpuMs: number;
  skills: number;
  embedded: number;
  topOther: [string, number][];
}

export function summariseDir(dir: string, cpuMs: number, skills: number, embedded: number): ProfileSummary {
  const sampledMs: Record<string, Record<string, number>> = {};
  const others = new Map<string, number>();
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'))) {
    // CPU.<date>.<time>.<pid>.<thread id>.<seq>.cpuprofile: thread 0 is the main thread.
    const kind = file.split('.')[4] === '0' ? 'main thread' : 'worker threads';
    const totals = new Map<string, number>();
    summarise(JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as CpuProfile, totals, others);
    const into = (sampledMs[kind] ??= {});
    for (const [cat, us] of totals) into[cat] = (into[cat] ?? 0) + us / 1000;
  }
  const topOther = [...others].sort((a, b) => b[1] - a[1]).slice(0, 12) as [string, number][];
  return { sampledMs, cpuMs, skills, embedded, topOther: topOther.map(([k, us]) => [k, us / 1000]) };
}

const MODEL_PREFIX = 'model: ORT';

/** The markdown table: sampled ms per thread kind, and each category's share of the process CPU time. */
export function summaryLines(s: ProfileSummary): string[] {
  const kinds = Object.keys(s.sampledMs).sort();
  const cats = [...CATEGORIES.map(([c]) => c), 'other JS', '(root)'].filter((c) =>
    kinds.some((k) => (s.sampledMs[k]?.[c] ?? 0) > 0),
  );
  const busy = (c: string): boolean => c !== 'idle';
  const sampledBusy = kinds.reduce(
    (n, k) => n + cats.filter(busy).reduce((m, c) => m + (s.sampledMs[k]?.[c] ?? 0), 0),
    0,
  );
  // Sampled busy time → CPU time: the share of each category, times the process CPU time.
  const scale = s.cpuMs / sampledBusy;
  const cpuOf = (c: string): number => kinds.reduce((n, k) => n + (s.sampledMs[k]?.[c] ?? 0), 0) * scale;
  const model = cats.filter((c) => c.startsWith(MODEL_PREFIX)).reduce((n, c) => n + cpuOf(c), 0);
  const outside = s.cpuMs - model;
  return [
    table(
      [
        'category',
        ...kinds.map((k) => `${k}, sampled s`),
        '≈ core-s (scaled to process CPU)',
        'share of CPU',
      ],
      cats.map((c) => [
        c,
        ...kinds.map((k) => num((s.sampledMs[k]?.[c] ?? 0) / 1000, 2)),
        busy(c) ? num(cpuOf(c) / 1000, 2) : '(not CPU)',
        busy(c) ? `${num((cpuOf(c) / s.cpuMs) * 100, 1)} %` : '',
      ]),
    ),
    '',
    `Process CPU (all threads) ${num(s.cpuMs / 1000, 2)} core-s for ${num(s.skills)} skills ` +
      `(${num(s.embedded)} texts embedded); sampled busy ${num(sampledBusy / 1000, 2)} s (scale ${num(scale, 3)}). ` +
      `Model (ORT session.run) ${num(model / 1000, 2)} core-s; everything else ${num(outside / 1000, 2)} core-s = ` +
      `**${num(outside / s.skills, 2)} ms CPU per skill** outside the model.`,
  ];
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      corpus: { type: 'string' },
      keep: { type: 'string' },
      profiles: { type: 'string' },
      'cpu-ms': { type: 'string' },
      skills: { type: 'string' },
      embedded: { type: 'string' },
    },
  });
  let summary: ProfileSummary;
  if (values.profiles) {
    summary = summariseDir(
      values.profiles,
      Number(values['cpu-ms']),
      Number(values.skills),
      Number(values.embedded ?? NaN),
    );
  } else {
    const corpus = path.resolve(values.corpus ?? defaultCorpusDir());
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'skillsmith-profile-'));
    const dir = values.keep ? path.resolve(values.keep) : path.join(tmp, 'profiles');
    try {
      const input: PipelineInput = {
        sources: [{ root: corpus }],
        db: path.join(tmp, 'index.db'),
        modelDir: await ensureDefaultModel(),
        threads: cpuBudget(),
        runs: 1,
      };
      // Not forked: the child prints its reply as JSON (childMain) and --cpu-prof writes a profile per thread.
      const stdout = execFileSync(
        process.execPath,
        ['--cpu-prof', `--cpu-prof-dir=${dir}`, benchFile('pipeline-child'), JSON.stringify(input)],
        { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 16 * 2 ** 20 },
      );
      const reply = JSON.parse(stdout) as { ok: boolean; result: PipelineResult; cpuMs: number };
      const run = reply.result.runs[0];
      if (!reply.ok || !run) throw new Error(`pipeline child failed: ${stdout}`);
      // The whole process's CPU (start-up and model load included), as the profiles cover the whole process.
      summary = summariseDir(dir, reply.cpuMs, run.counts.seen, run.counts.embedded);
      process.stderr.write(
        `[profile] run wall ${num(run.wallMs / 1000, 2)} s, run CPU ${num(run.cpuMs / 1000, 2)} s, ` +
          `process CPU ${num(reply.cpuMs / 1000, 2)} s; profiles in ${dir}\n`,
      );
      // The exact figure (the pool threads' own clocks around session.run), profiler overhead included: the
      // bench's target row measures the same without the profiler.
      if (run.modelCpuMs !== undefined)
        process.stderr.write(
          `[profile] exact: CPU inside ORT ${num(run.modelCpuMs / 1000, 2)} s, outside it ` +
            `${num((run.cpuMs - run.modelCpuMs) / run.counts.seen, 2)} ms per skill (run CPU, profiler running)\n`,
        );
    } finally {
      rmSync(path.join(tmp, 'index.db'), { force: true });
      if (!values.keep) rmSync(tmp, { recursive: true, force: true });
    }
  }
  console.log(summaryLines(summary).join('\n'));
  console.log('\nTop frames left as "other JS" (sampled ms):');
  for (const [k, ms] of summary.topOther) console.log(`  ${num(ms, 0).padStart(6)}  ${k}`);
}

await main();
