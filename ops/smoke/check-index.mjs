// Run by ops/compose-smoke.sh inside the project image (node /smoke/check-index.mjs LIVE REFERENCE): compares the
// database the compose stack wrote (through faults) with a reference written by an embedded `index` run of the
// same corpus, and prints one JSON object. Exit 1 when they differ: a skill missing, extra, written twice, with
// other content or other vectors, a rejection lost, or an integrity_check that is not ok.
import Database from 'better-sqlite3';

const [livePath, refPath] = process.argv.slice(2);
if (!livePath || !refPath) {
  console.error('usage: check-index.mjs LIVE.db REFERENCE.db');
  process.exit(2);
}

function facts(path) {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    const one = (sql) => db.prepare(sql).pluck().get();
    const all = (sql) => db.prepare(sql).raw().all();
    const lastRun = db.prepare('SELECT * FROM index_runs ORDER BY id DESC LIMIT 1').get();
    return {
      integrity: one('PRAGMA integrity_check'),
      skills: one('SELECT count(*) FROM skills WHERE removed_at IS NULL'),
      distinctIds: one('SELECT count(DISTINCT id) FROM skills WHERE removed_at IS NULL'),
      // Skills with other than exactly one skill vector (chunk 0): written twice, or not embedded.
      vectorsNotOne: one(`SELECT count(*) FROM skills s WHERE removed_at IS NULL AND
        (SELECT count(*) FROM skill_embeddings e WHERE e.skill_id = s.id AND e.chunk = 0) <> 1`),
      fts: one('SELECT count(*) FROM skills_fts'),
      rows: new Map(all('SELECT id, content_hash FROM skills WHERE removed_at IS NULL')),
      vectors: new Map(
        all(
          `SELECT skill_id || '#' || chunk, text_hash || ':' || dim || ':' || length(vector) FROM skill_embeddings`,
        ),
      ),
      rejected: new Set(
        db
          .prepare(`SELECT source_id || '|' || path || '|' || code FROM index_errors WHERE run_id = ?`)
          .pluck()
          .all(lastRun?.id ?? -1),
      ),
      lastRun,
    };
  } finally {
    db.close();
  }
}

function diff(a, b) {
  let missing = 0;
  let other = 0;
  for (const [k, v] of b) {
    if (!a.has(k)) missing++;
    else if (a.get(k) !== v) other++;
  }
  let extra = 0;
  for (const k of a.keys()) if (!b.has(k)) extra++;
  return { missing, extra, other };
}

const live = facts(livePath);
const ref = facts(refPath);
const skills = diff(live.rows, ref.rows);
const vectors = diff(live.vectors, ref.vectors);
const rejected = diff(
  new Map([...live.rejected].map((k) => [k, 1])),
  new Map([...ref.rejected].map((k) => [k, 1])),
);
const problems = [];
if (live.integrity !== 'ok') problems.push(`integrity_check: ${live.integrity}`);
if (live.lastRun?.status !== 'completed') problems.push(`last run is ${live.lastRun?.status}`);
if (live.skills !== ref.skills) problems.push(`${live.skills} skills, reference ${ref.skills}`);
if (live.distinctIds !== live.skills) problems.push(`${live.skills - live.distinctIds} skills written twice`);
if (live.vectorsNotOne !== 0) problems.push(`${live.vectorsNotOne} skills without exactly one skill vector`);
if (live.fts !== live.skills) problems.push(`${live.fts} full-text rows for ${live.skills} skills`);
for (const [what, d] of Object.entries({ skills, vectors, rejected })) {
  if (d.missing || d.extra || d.other) problems.push(`${what} differ: ${JSON.stringify(d)}`);
}
// Vectors are compared by the hash of the text embedded and their size, not bit for bit: batches of other
// sizes may round differently in the last bits.
console.log(
  JSON.stringify({
    ok: problems.length === 0,
    problems,
    integrity: live.integrity,
    indexed: live.skills,
    rejected: live.rejected.size,
    reference: { indexed: ref.skills, rejected: ref.rejected.size },
    lastRun: live.lastRun && {
      id: live.lastRun.id,
      mode: live.lastRun.mode,
      status: live.lastRun.status,
      seen: live.lastRun.seen,
      indexed: live.lastRun.indexed,
      failed: live.lastRun.failed,
    },
  }),
);
process.exit(problems.length === 0 ? 0 : 1);
