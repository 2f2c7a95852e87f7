import Database from 'better-sqlite3';

/** What the walk compares of one database: its live skills, tombstones, full-text hits and last run. */
export interface IndexState {
  /** Live skill id → content hash, text hash and the vector's bytes (hex). */
  live: Map<string, { contentHash: string; textHash: string | null; vector: string | null }>;
  removed: Set<string>;
  /** Ids of the skills the full-text index finds by the word every generated body has (walk trees only). */
  ftsHits: string[] | undefined;
  lastRun: { status: string; seen: number; indexed: number; unchanged: number; failed: number } | undefined;
  /** The last run's index_errors, one line each, sorted. */
  lastErrors: string[];
  /** The last run's per-source status (`completed`, `partial`…). */
  sourceStatus: string[];
}

export function readState(path: string, modelId: string, ftsMarker?: string): IndexState {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    const live = new Map<string, { contentHash: string; textHash: string | null; vector: string | null }>();
    const rows = db
      .prepare(
        `SELECT s.id, s.content_hash AS contentHash, e.text_hash AS textHash, hex(e.vector) AS vector
           FROM skills s LEFT JOIN skill_embeddings e ON e.skill_id = s.id AND e.model_id = ? AND e.chunk = 0
          WHERE s.removed_at IS NULL ORDER BY s.id`,
      )
      .all(modelId) as { id: string; contentHash: string; textHash: string | null; vector: string | null }[];
    for (const r of rows)
      live.set(r.id, { contentHash: r.contentHash, textHash: r.textHash, vector: r.vector });
    const removed = new Set(
      db.prepare('SELECT id FROM skills WHERE removed_at IS NOT NULL').pluck().all() as string[],
    );
    const ftsHits =
      ftsMarker === undefined
        ? undefined
        : (db
            .prepare(
              `SELECT s.id FROM skills_fts JOIN skills s ON s.rowid = skills_fts.rowid WHERE skills_fts MATCH ? ORDER BY s.id`,
            )
            .pluck()
            .all(ftsMarker) as string[]);
    const run = db.prepare('SELECT * FROM index_runs ORDER BY id DESC LIMIT 1').get() as
      (IndexState['lastRun'] & { id: number; sources: string }) | undefined;
    const lastErrors = run
      ? (
          db
            .prepare('SELECT source_id, path, code, message, line FROM index_errors WHERE run_id = ?')
            .all(run.id) as {
            source_id: string;
            path: string;
            code: string;
            message: string;
            line: number | null;
          }[]
        )
          .map((e) => `${e.source_id}|${e.path}|${e.code}|${e.line ?? ''}|${e.message}`)
          .sort()
      : [];
    const sourceStatus = run
      ? (JSON.parse(run.sources) as { id: string; status?: string }[]).map(
          (s) => `${s.id}:${s.status ?? '?'}`,
        )
      : [];
    return {
      live,
      removed,
      ftsHits,
      lastRun: run && {
        status: run.status,
        seen: run.seen,
        indexed: run.indexed,
        unchanged: run.unchanged,
        failed: run.failed,
      },
      lastErrors,
      sourceStatus,
    };
  } finally {
    db.close();
  }
}

/** `PRAGMA integrity_check` of a file: 'ok' or what SQLite found. */
export function integrityCheck(path: string): string {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    return (db.pragma('integrity_check') as { integrity_check: string }[])
      .map((r) => r.integrity_check)
      .join('; ');
  } finally {
    db.close();
  }
}

/**
 * The differences between the incrementally updated index and a fresh index of the same tree, as lines (empty
 * when they agree). `before` is the incremental index before this step and `everLive` every id it ever had
 * live: a skill that fails now keeps its last good version, and only ids that left the tree are tombstones.
 */
export function diffStates(
  inc: IndexState,
  fresh: IndexState,
  before: IndexState | undefined,
  everLive: ReadonlySet<string>,
  /** Text hashes whose vectors need only agree to within `tolerance` (made by a batching process). */
  vectors: { tolerant: ReadonlySet<string>; tolerance: number } = { tolerant: new Set(), tolerance: 0 },
): string[] {
  const out: string[] = [];
  const partial = inc.sourceStatus.some((s) => !s.endsWith(':completed'));
  for (const [id, f] of fresh.live) {
    const i = inc.live.get(id);
    if (!i) out.push(`live in a fresh index, missing here: ${id}`);
    else {
      if (i.contentHash !== f.contentHash)
        out.push(`content hash of ${id}: ${i.contentHash} here, ${f.contentHash} fresh`);
      if (i.textHash !== f.textHash) out.push(`text hash of ${id}: ${i.textHash} here, ${f.textHash} fresh`);
      if (i.vector !== f.vector) {
        const off = maxAbsDiff(i.vector, f.vector);
        if (!(f.textHash && vectors.tolerant.has(f.textHash) && off <= vectors.tolerance))
          out.push(`vector of ${id} is not byte-equal to a fresh index's (max |diff| ${off})`);
      }
    }
  }
  for (const [id, i] of inc.live) {
    if (fresh.live.has(id)) continue;
    // Allowed only as the kept last good version of a skill that failed this run (or when the crawl was partial).
    const path = id.slice(id.indexOf('/') + 1);
    const failedNow = inc.lastErrors.some((e) => e.split('|')[1] === path);
    const keptAsItWas = before?.live.get(id)?.contentHash === i.contentHash;
    if (!((failedNow || partial) && keptAsItWas)) out.push(`live here but not in a fresh index: ${id}`);
  }
  for (const [id, i] of inc.live) if (!i.vector) out.push(`live without a vector: ${id}`);
  const expectRemoved = [...everLive].filter((id) => !inc.live.has(id)).sort();
  const removed = [...inc.removed].sort();
  if (JSON.stringify(removed) !== JSON.stringify(expectRemoved)) {
    out.push(`tombstones ${JSON.stringify(removed)}, expected ${JSON.stringify(expectRemoved)}`);
  }
  const liveIds = [...inc.live.keys()].sort();
  if (inc.ftsHits && JSON.stringify(inc.ftsHits) !== JSON.stringify(liveIds)) {
    out.push(
      `full-text hits ${JSON.stringify(inc.ftsHits)} are not the live skills ${JSON.stringify(liveIds)}`,
    );
  }
  if (fresh.ftsHits && JSON.stringify(fresh.ftsHits) !== JSON.stringify([...fresh.live.keys()].sort())) {
    out.push(`fresh index: full-text hits ${JSON.stringify(fresh.ftsHits)} are not its live skills`);
  }
  const a = inc.lastErrors.join('\n');
  const b = fresh.lastErrors.join('\n');
  if (a !== b) {
    out.push(
      `last run's index_errors differ:\n  here:  ${inc.lastErrors.join('\n         ')}\n  fresh: ${fresh.lastErrors.join('\n         ')}`,
    );
  }
  const r = inc.lastRun;
  const f = fresh.lastRun;
  if (!r || r.status !== 'completed') out.push(`last run is ${r?.status ?? 'missing'}, not completed`);
  if (!f || f.status !== 'completed') out.push(`fresh run is ${f?.status ?? 'missing'}, not completed`);
  if (r && r.seen !== r.indexed + r.unchanged + r.failed) {
    out.push(
      `counts do not add up: seen ${r.seen} ≠ indexed ${r.indexed} + unchanged ${r.unchanged} + failed ${r.failed}`,
    );
  }
  if (f && f.seen !== f.indexed + f.unchanged + f.failed) {
    out.push(`fresh counts do not add up: seen ${f.seen} ≠ indexed ${f.indexed} + failed ${f.failed}`);
  }
  if (r && f && (r.seen !== f.seen || r.failed !== f.failed)) {
    out.push(`seen/failed ${r.seen}/${r.failed} here, ${f.seen}/${f.failed} fresh`);
  }
  return out;
}

/** Largest absolute difference between two hex-encoded little-endian float32 vectors (Infinity if unlike). */
function maxAbsDiff(a: string | null, b: string | null): number {
  if (!a || !b || a.length !== b.length) return Infinity;
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  let max = 0;
  for (let o = 0; o < x.length; o += 4) max = Math.max(max, Math.abs(x.readFloatLE(o) - y.readFloatLE(o)));
  return max;
}
