import type { DistributedCrawlResult } from '../distributed/distributed-crawl.js';

/** The human summary of a distributed run, on stderr. */
export function printCrawlSummary(r: DistributedCrawlResult): void {
  const lines = [`run ${r.runKey} (id ${r.runId}): crawl ${r.status}, ${r.batches} batches queued`];
  const c = r.summary?.counts;
  if (r.summary && c) {
    lines.push(
      `  written   ${r.summary.status}`,
      `  seen      ${c.seen} skills`,
      `  indexed   ${c.indexed} (${c.warnings} with warnings)`,
      `  unchanged ${c.unchanged}${c.reembedded ? ` (${c.reembedded} re-embedded)` : ''}`,
      `  failed    ${c.failed} (reasons in index_errors, run ${r.runId})`,
      `  removed   ${c.removed}`,
      `  embedded  ${c.embedded} texts`,
    );
    if (r.summary.message) lines.push(`  ${r.summary.message}`);
  } else {
    lines.push(
      `  seen ${r.counts.seen}, unchanged ${r.counts.unchanged}, failed ${r.counts.failed}; the writer finishes the run`,
    );
  }
  for (const s of r.sources) if (s.error) lines.push(`  source ${s.id} ${s.status ?? ''}: ${s.error}`);
  process.stderr.write(`${lines.join('\n')}\n`);
}
