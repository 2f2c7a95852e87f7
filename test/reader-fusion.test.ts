import { describe, expect, it } from 'vitest';
import { reciprocalRankFusion } from '../src/reader/fusion.js';

describe('reciprocal rank fusion', () => {
  it('scores Σ 1/(k + rank) and ranks skills found by both lists above skills found by one', () => {
    const fused = reciprocalRankFusion([
      ['a', 'b', 'c'],
      ['c', 'd', 'a'],
    ]);
    expect(fused.map((h) => h.id)).toEqual(['a', 'c', 'b', 'd']);
    const a = fused[0]!;
    expect(a.score).toBeCloseTo(1 / 61 + 1 / 63, 12);
    expect(a.ranks).toEqual([1, 3]);
    expect(fused.find((h) => h.id === 'd')?.ranks).toEqual([undefined, 2]);
  });

  it('uses the k constant: a small k lets a top rank in one list beat middling ranks in both', () => {
    const lists = [
      ['x', 'm'],
      ['m2', 'y', 'z', 'v', 'w', 'm'],
    ];
    expect(reciprocalRankFusion(lists, { k: 1 })[0]?.id).toBe('x');
    expect(reciprocalRankFusion(lists, { k: 60 })[0]?.id).toBe('m');
  });

  it('returns one hit per id: repeated ids (chunks of one skill) count once, at their best position', () => {
    const fused = reciprocalRankFusion([['s1', 's1', 's2', 's1'], ['s2']]);
    expect(fused.map((h) => h.id)).toEqual(['s2', 's1']);
    // s2 is the second distinct id of list 0, not the third entry.
    expect(fused[0]?.ranks).toEqual([2, 1]);
    expect(fused[1]?.ranks).toEqual([1, undefined]);
    expect(fused[1]?.score).toBeCloseTo(1 / 61, 12);
  });

  it('breaks ties deterministically: best single rank first, then the list that gave it', () => {
    // b = (2, 1) and c = (1, 2) score the same; both have a rank 1, c's is in the earlier list.
    const fused = reciprocalRankFusion([
      ['c', 'b'],
      ['b', 'c'],
    ]);
    expect(fused[0]!.score).toBe(fused[1]!.score);
    expect(fused.map((h) => h.id)).toEqual(['c', 'b']);
    // One list each, same rank: the earlier list wins.
    expect(reciprocalRankFusion([['q'], ['p']]).map((h) => h.id)).toEqual(['q', 'p']);
    // Equal score and best rank: a = (1, 3) beats b = (2, 2)? a = 1/61 + 1/63 > b = 2/62: no tie, a first.
    expect(
      reciprocalRankFusion([
        ['a', 'b'],
        ['x', 'b', 'a'],
      ]).map((h) => h.id),
    ).toEqual(['a', 'b', 'x']);
  });

  it('is order-stable with an empty list and applies weights', () => {
    expect(reciprocalRankFusion([[], []])).toEqual([]);
    expect(reciprocalRankFusion([['a', 'b'], []]).map((h) => h.id)).toEqual(['a', 'b']);
    const weighted = reciprocalRankFusion([['a'], ['b']], { weights: [1, 2] });
    expect(weighted.map((h) => h.id)).toEqual(['b', 'a']);
  });
});
