import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { markdownSkeleton } from '../src/shared/parse-rules.js';
import { corpusDir } from './helpers.js';

/** The skeleton as first written (split into lines, two regexes per line): the reference the fast scan must match. */
function referenceSkeleton(body: string): string[] {
  const main = body.split('\n\n<!-- file: ')[0] ?? '';
  const out: string[] = [];
  let fence: string | undefined;
  for (const line of main.split('\n')) {
    const mark = /^\s*(`{3,}|~{3,})/.exec(line)?.[1];
    if (fence !== undefined) {
      if (mark && mark[0] === fence[0] && mark.length >= fence.length) fence = undefined;
      continue;
    }
    if (mark) {
      fence = mark;
      out.push('c');
      continue;
    }
    const heading = /^(#{1,6})\s/.exec(line);
    if (heading?.[1]) out.push(`h${heading[1].length}`);
  }
  return out;
}

/** Lines where a shortcut would show: Unicode whitespace, a lone CR, fences of both kinds and lengths, edges. */
const AWKWARD = [
  '',
  '\n',
  '# a',
  '#',
  '#a\n# b\n####### seven\n###### six',
  '  ## indented\n\t# tab\n\u00a0# nbsp\n\u2003# em space\n\ufeff# bom',
  '```\n# inside\n```\n# after',
  '~~~\n```\n# inside\n~~~~\n# after',
  '````\n```\n# still inside\n````\n# out',
  '   ```js\ncode\n   ```\n',
  'text\r# not a heading start\n#\r\n# cr line',
  '\u2028# after LS\n\u3000```\nx\n```',
  '# a\n\n<!-- file: other.md -->\n# not counted',
  '\n\n<!-- file: x.md -->\n# b',
  'é# no\n日本語\n# 見出し',
  '#\t\n##\u00a0x\n###\u2029y',
  'a\n   \n\t\t\n  # indented hash\n \t```\n# in\n \t```\n# out\n  ~~~\n\t~~~~\n## after',
  ' \u00a0# nbsp after a space\n\t\r\n#\t#\n ```',
];

describe('markdownSkeleton', () => {
  it('gives the reference skeleton on awkward lines', () => {
    for (const body of AWKWARD)
      expect(markdownSkeleton(body), JSON.stringify(body)).toEqual(referenceSkeleton(body));
  });

  it('gives the reference skeleton on every corpus SKILL.md', () => {
    let n = 0;
    const walk = (dir: string): void => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        if (e.isDirectory()) walk(join(dir, e.name));
        else if (e.name === 'SKILL.md') {
          const text = readFileSync(join(dir, e.name), 'utf8');
          expect(markdownSkeleton(text)).toEqual(referenceSkeleton(text));
          n++;
        }
      }
    };
    walk(corpusDir);
    expect(n).toBeGreaterThan(1000);
  });
});
