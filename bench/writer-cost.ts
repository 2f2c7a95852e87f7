/**
 * Where the single writer's time goes: every valid corpus skill written with `IndexWriter.writeBatch` into a
 * fresh database file, in batches as `index` writes them, with one part of the work taken away per variant.
 * Only the writes are timed (crawl and parse happen once, before); vectors are a constant 512-float vector.
 *
 *   npx tsc -p tsconfig.build.json && node dist/bench/writer-cost.js [--reps 7] [--batch-size 128] [--corpus DIR]
 *
 * Variants (each repetition runs them all, in a rotated order, so drift of the machine falls on all):
 * - `full`: the schema as shipped;
 * - `fts without bodies`: the FTS5 insert trigger indexes an empty body (name and description only);
 * - `no fts`: no FTS5 insert trigger at all;
 * - `no vectors`: the batches carry no embeddings.
 * The triggers are changed through a second connection on the fresh file, which is a bench's liberty only.
 */
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { dirSourceId } from '../src/producer/source-arg.js';
import { crawlDir } from '../src/producer/dir-source.js';
import type { SkillRecord } from '../src/shared/records.js';
import { parseSkill } from '../src/stages/parse-skill.js';
import { IndexWriter } from '../src/writer/index-writer.js';
import { median, num, table } from './markdown.js';
import { defaultCorpusDir } from './corpus-texts.js';

const VARIANTS = ['full', 'fts without bodies', 'no fts', 'no vectors'] as const;
type Variant = (typeof VARIANTS)[number];

const FTS_WITHOUT_BODIES = `
  DROP TRIGGER skills_fts_insert;
  CREATE TRIGGER skills_fts_insert AFTER INSERT ON skills WHEN new.removed_at IS NULL BEGIN
    INSERT INTO skills_fts(rowid, name, description, body) VALUES (new.rowid, new.name, new.description, '');
  END;`;

async function corpusRecords(root: string): Promise<SkillRecord[]> {
  const records: SkillRecord[] = [];
  for await (const item of crawlDir({ root, sourceId: dirSourceId(root) })) {
    if (!('files' in item)) continue;
    const parsed = parseSkill(item);
    if (parsed.ok) records.push({ ...parsed.skill, warnings: parsed.warnings, statKey: item.statKey });
  }
  return records;
}

/** CPU ms of writing every record in batches, on a fresh file in `dir`. */
function writeAll(dir: string, records: readonly SkillRecord[], batchSize: number, variant: Variant): number {
  const file = join(dir, 'writer-cost.db');
  for (const suffix of ['', '-wal', '-shm', '.lock']) rmSync(file + suffix, { force: true });
  const writer = IndexWriter.open({ path: file });
  try {
    const other = new Database(file);
    if (variant === 'no fts') other.exec('DROP TRIGGER skills_fts_insert');
    if (variant === 'fts without bodies') other.exec(FTS_WITHOUT_BODIES);
    other.close();
    writer.registerModel({ id: 'bench', dim: 512, pooling: 'mean', textConfig: {} });
    const runId = writer.beginRun({ mode: 'embedded', sources: [], modelId: 'bench' });
    const vector = new Float32Array(512).fill(1 / Math.sqrt(512));
    const started = process.cpuUsage();
    for (let i = 0; i < records.length; i += batchSize) {
      const skills = records.slice(i, i + batchSize);
      const embeddings =
        variant === 'no vectors'
          ? []
          : skills.map((s) => ({
              skillId: s.id,
              modelId: 'bench',
              chunk: 0,
              vector,
              textHash: s.contentHash,
            }));
      writer.writeBatch({ runId, skills, embeddings, errors: [], seen: [] });
    }
    const used = process.cpuUsage(started);
    return (used.user + used.system) / 1000;
  } finally {
    writer.close();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      reps: { type: 'string', default: '7' },
      'batch-size': { type: 'string', default: '128' },
      corpus: { type: 'string' },
    },
  });
  const reps = Number(values.reps);
  const batchSize = Number(values['batch-size']);
  if (!Number.isInteger(reps) || reps < 1) throw new Error('--reps must be a positive integer');
  if (!Number.isInteger(batchSize) || batchSize < 1)
    throw new Error('--batch-size must be a positive integer');
  const root = resolve(values.corpus ?? defaultCorpusDir());
  const records = await corpusRecords(root);
  const bodyMb = records.reduce((n, r) => n + Buffer.byteLength(r.body), 0) / 1e6;
  const dir = mkdtempSync(join(os.tmpdir(), 'skillsmith-writer-cost-'));
  const cpu = new Map<Variant, number[]>(VARIANTS.map((v) => [v, []]));
  try {
    for (let rep = 0; rep < reps; rep++) {
      for (let k = 0; k < VARIANTS.length; k++) {
        const variant = VARIANTS[(rep + k) % VARIANTS.length] as Variant;
        cpu.get(variant)!.push(writeAll(dir, records, batchSize, variant));
      }
      process.stderr.write(`[writer-cost] repetition ${rep + 1}/${reps}\n`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const full = median(cpu.get('full')!) ?? NaN;
  console.log(
    `Writer CPU for ${records.length.toLocaleString('en-US')} skills (${num(bodyMb, 1)} MB of bodies), batches of ${batchSize}, median of ${reps}:\n`,
  );
  console.log(
    table(
      ['variant', 'CPU ms (median)', 'all runs', 'saved against full'],
      VARIANTS.map((v) => {
        const m = median(cpu.get(v)!) ?? NaN;
        return [
          v,
          num(m, 0),
          cpu
            .get(v)!
            .map((x) => num(x, 0))
            .join(', '),
          v === 'full' ? '—' : num(full - m, 0),
        ];
      }),
    ),
  );
}

await main();
