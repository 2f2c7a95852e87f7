/**
 * One full-text hit; `bm25` is SQLite's (lower = better, usually negative). Every full-text list (whole row,
 * name + description, CJK bigrams) returns these, so it lives apart from any of them.
 */
export interface FtsHit {
  id: string;
  bm25: number;
}
