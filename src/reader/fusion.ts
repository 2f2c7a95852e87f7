/** One fused hit: its reciprocal-rank-fusion score and its 1-based rank in each input list (or undefined). */
export interface FusedHit {
  id: string;
  score: number;
  ranks: (number | undefined)[];
}

/** Options of {@link reciprocalRankFusion}. */
export interface FusionOptions {
  /** The RRF constant: larger flattens the head of each list. Default 60 (Cormack et al., 2009). */
  k?: number;
  /** Per-list weights, default 1 each. */
  weights?: readonly number[];
}

/**
 * Reciprocal rank fusion: score(d) = Σ_lists w / (k + rank(d)). Uses ranks only, so BM25 and cosine scores,
 * which live on unrelated scales, need no calibration. An id repeated within a list (several chunks of one
 * skill) counts once, at its best position; ranks are positions among the list's distinct ids.
 *
 * Ties (equal score) are broken deterministically: better best rank first, then the earlier list that gave it,
 * then the id.
 */
export function reciprocalRankFusion(
  lists: readonly (readonly string[])[],
  options: FusionOptions = {},
): FusedHit[] {
  const k = options.k ?? 60;
  const hits = new Map<string, FusedHit>();
  lists.forEach((list, li) => {
    const weight = options.weights?.[li] ?? 1;
    let rank = 0;
    for (const id of list) {
      let hit = hits.get(id);
      if (hit?.ranks[li] !== undefined) continue; // a later chunk of a skill already counted
      rank++;
      if (!hit) {
        hit = { id, score: 0, ranks: lists.map(() => undefined) };
        hits.set(id, hit);
      }
      hit.ranks[li] = rank;
      hit.score += weight / (k + rank);
    }
  });
  const best = (h: FusedHit): [number, number] => {
    let r = Infinity;
    let at = Infinity;
    h.ranks.forEach((x, li) => {
      if (x !== undefined && x < r) [r, at] = [x, li];
    });
    return [r, at];
  };
  return [...hits.values()].sort((a, b) => {
    if (b.score !== a.score) return b.score - a.score;
    const [ra, la] = best(a);
    const [rb, lb] = best(b);
    if (ra !== rb) return ra - rb;
    if (la !== lb) return la - lb;
    return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
  });
}
