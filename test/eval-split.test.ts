import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ruleSplits, skillKey, splitProblems, type SplitQuery } from '../bench/eval/split.js';

const QUERIES = path.join(import.meta.dirname, '..', 'bench', 'eval', 'queries.json');

describe('eval tune / test split', () => {
  it('the stored split of bench/eval/queries.json has no leak', () => {
    const queries = JSON.parse(readFileSync(QUERIES, 'utf8')) as SplitQuery[];
    expect(splitProblems(queries)).toEqual([]);
    // All queries of the first eval (the shipped settings were chosen on them) are tune.
    expect(queries.filter((q) => q.origin === 'v1').every((q) => q.split === 'tune')).toBe(true);
  });

  it('copies of one skill (same folder name) share a key', () => {
    expect(skillKey('skills/a__b/docs/zh-CN/skills/Golang-Patterns')).toBe('golang-patterns');
    expect(skillKey('skills/c__d/skills/golang-patterns')).toBe('golang-patterns');
  });

  it('queries sharing a relevant skill land in one split, and a v1 query pulls its group into tune', () => {
    const queries: SplitQuery[] = [
      { query: 'one', relevant: ['skills/x/alpha'], origin: 'blind' },
      { query: 'two', relevant: ['skills/y/beta', 'skills/z/docs/zh-CN/alpha'], origin: 'blind' },
      { query: 'three', relevant: ['skills/y/beta'], origin: 'v1' },
    ];
    expect(ruleSplits(queries)).toEqual(['tune', 'tune', 'tune']);
    // Without the v1 query the group is hashed as one: all three share the same split either way.
    const blind = queries.map((q) => ({ ...q, origin: 'blind' }));
    const splits = ruleSplits(blind);
    expect(new Set(splits).size).toBe(1);
  });

  it('reports a skill judged relevant in both splits, a missing split and a near-duplicate across splits', () => {
    const problems = splitProblems([
      { query: 'fuzz a rust crate with cargo', relevant: ['skills/a/cargo-fuzz'], split: 'tune' },
      { query: 'fuzz my rust crate with cargo', relevant: ['skills/b/libafl'], split: 'test' },
      { query: 'another', relevant: ['skills/c/docs/tr/cargo-fuzz'], split: 'test' },
      { query: 'no split', relevant: ['skills/d/other'] },
    ]);
    expect(problems).toEqual([
      'skill "cargo-fuzz" is relevant in both splits',
      'query 3 ("no split") has no split',
      expect.stringMatching(/^near-duplicate across splits/),
    ]);
  });
});
