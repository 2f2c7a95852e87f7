import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { describe, expect, it } from 'vitest';
import { isMap, isScalar, isSeq, LineCounter, parseDocument } from 'yaml';
import { fastFrontMatter } from '../src/stages/front-matter-fast-read.js';
import { corpusDir } from './helpers.js';

/** `yaml`'s reading, as parseSkill does it: data, the line of a top-level key, any duplicate key. */
function yamlReading(
  text: string,
):
  | { ok: false }
  | { ok: true; data: unknown; keyLine: (key: string) => number | undefined; duplicates: number } {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, {
    version: '1.2',
    schema: 'core',
    uniqueKeys: false,
    prettyErrors: false,
    lineCounter,
  });
  if (doc.errors.length > 0) return { ok: false };
  let data: unknown;
  try {
    data = doc.toJS();
  } catch {
    return { ok: false };
  }
  const keyLine = (key: string): number | undefined => {
    if (!isMap(doc.contents)) return undefined;
    let offset: number | undefined;
    for (const pair of doc.contents.items) {
      if (isScalar(pair.key) && String(pair.key.value) === key && pair.key.range) offset = pair.key.range[0];
    }
    return offset === undefined ? undefined : lineCounter.linePos(offset).line;
  };
  let duplicates = 0;
  const walk = (node: unknown): void => {
    if (isMap(node)) {
      const seen = new Set<string>();
      for (const pair of node.items) {
        if (isScalar(pair.key)) {
          const k = String(pair.key.value);
          if (seen.has(k)) duplicates++;
          seen.add(k);
        }
        walk(pair.value);
      }
    } else if (isSeq(node)) node.items.forEach(walk);
  };
  walk(doc.contents);
  return { ok: true, data, keyLine, duplicates };
}

const LOOKED_UP = ['name', 'description', 'license', 'allowed-tools', 'metadata', 'compatibility'];

/** '' when the fast reading (if any) equals yaml's, else what differs. */
function disagreement(text: string): string {
  const fast = fastFrontMatter(text);
  if (!fast) return ''; // parseSkill then reads it with yaml itself
  const ref = yamlReading(text);
  if (!ref.ok) return 'fast path accepts what yaml rejects';
  if (!isDeepStrictEqual(fast.data, ref.data))
    return `data: ${JSON.stringify(fast.data)} ≠ ${JSON.stringify(ref.data)}`;
  if (ref.duplicates > 0) return 'yaml sees a duplicate key';
  const keys =
    fast.data !== null && typeof fast.data === 'object' && !Array.isArray(fast.data)
      ? Object.keys(fast.data)
      : [];
  for (const key of [...keys, ...LOOKED_UP]) {
    if (fast.keyLine(key) !== ref.keyLine(key))
      return `line of '${key}': ${fast.keyLine(key)} ≠ ${ref.keyLine(key)}`;
  }
  return '';
}

/** Front matters of the corpus (LF, no BOM), as parseSkill cuts them; empty without the shared corpus. */
function corpusFrontMatters(): string[] {
  if (!existsSync(corpusDir)) return [];
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name === 'SKILL.md') {
        const text = readFileSync(p, 'utf8')
          .replace(/^\uFEFF/, '')
          .replace(/\r\n/g, '\n');
        const m = /^---[ \t]*\n([\s\S]*?)\n---[ \t]*(?:\n|$)/.exec(text);
        if (m?.[1] !== undefined) out.push(m[1]);
      }
    }
  };
  walk(corpusDir);
  return out;
}

const SEEDS = [
  'name: pdf-tools\ndescription: Read, split and merge PDF files. Use when a task mentions PDFs.\nlicense: MIT',
  'name: a\ndescription: >\n  folded text\n  over lines\nallowed-tools:\n  - Read\n  - Bash(git:*)\nmetadata:\n  version: "1.0"\n  tags: [x, y]',
  'name: b\ndescription: |\n  keep\n\n  lines\nversion: 1.0\ncount: 0x1F\nflag: True\nnothing: ~\n# comment\nnested:\n  deeper:\n    - {a: 1, b: [2, 3]}',
  'name: \'c\'\ndescription: "quoted \\u00e9 and \\"escapes\\""\nurl: https://example.com/a#b\nx: 1e3\ny: .inf\nz: -.5',
];

describe('front matter fast read', () => {
  it('reads plain front matter exactly as yaml does', () => {
    for (const text of SEEDS) {
      expect(fastFrontMatter(text), text).toBeDefined();
      expect(disagreement(text), text).toBe('');
    }
    expect(fastFrontMatter(SEEDS[1] as string)?.keyLine('allowed-tools')).toBe(5);
  });

  it('leaves to yaml what the two read differently, or what needs yaml guards', () => {
    const leftToYaml = [
      'name: a\ndescription: x\rline', // a lone CR
      '%YAML 1.1\n---\nname: a', // a directive
      'name: &n a\ndescription: *n', // an anchor (js-yaml has no alias limit)
      'name: !!str 1\ndescription: x', // a tag
      'name: a\n: nameless', // a null key: '' in yaml, 'null' in js-yaml
      'name: a\nmeta: {x: 1, : 2}',
      'name: a\ndescription: "starts here\n- and goes on"', // under-indented continuation: yaml rejects it
      'name: a\ntags: [a,\nb]',
      '{name: a, description: b}', // the root is not a block mapping
      '- a\n- b',
      'name: a\nname: b', // duplicate key: yaml warns, js-yaml throws
      'name: a\ndescription: b: c', // invalid YAML: yaml gives the error and its line
      'name: a\n\tdescription: tab',
      `name: a\n${'k'.repeat(1100)}: v`, // yaml: implicit keys over 1,024 characters are an error; js-yaml reads them
      `name: a\nmeta: {x: 1, ${'y'.repeat(1100)}: 2}`,
    ];
    for (const text of leftToYaml) expect(fastFrontMatter(text), JSON.stringify(text)).toBeUndefined();
  });

  it('stays linear on long lines (untrusted input)', () => {
    // A quadratic scan of these lines takes minutes and runs into this test's timeout; a linear one, milliseconds.
    const spaces = ' '.repeat(200_000);
    for (const text of [
      `name: a${spaces}b\ndescription: x`,
      `name: a\nk${spaces}x${spaces}: v`,
      `a${spaces}b${spaces}: c`,
    ]) {
      expect(disagreement(text)).toBe('');
    }
  }, 20_000);

  it('agrees with yaml on every corpus front matter, reading nearly all of them', () => {
    const texts = corpusFrontMatters();
    if (texts.length === 0) return; // no shared corpus beside the repo: the seeded tests above still ran
    let fast = 0;
    for (const text of texts) {
      expect(disagreement(text), text.slice(0, 200)).toBe('');
      if (fastFrontMatter(text)) fast++;
    }
    expect(fast / texts.length).toBeGreaterThan(0.95);
  });

  it('agrees with yaml on random mutations of real front matter (seeded)', () => {
    const bases = [...SEEDS, ...corpusFrontMatters().filter((t) => t.length < 3000)];
    let seed = 20261202;
    const rnd = (): number => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    const pick = <T>(a: readonly T[]): T => a[Math.floor(rnd() * a.length)] as T;
    // Pieces of YAML syntax the two parsers could read differently.
    const PIECES = [
      ': ',
      ':',
      ' #',
      '#',
      '- ',
      "'",
      '"',
      '|',
      '>',
      '|-',
      '>+',
      '&a ',
      '*a',
      '!',
      '!!str ',
      '? ',
      '[',
      ']',
      '{',
      '}',
      ',',
      '\t',
      '  ',
      ' ',
      '\n',
      '\n  ',
      '\n   ',
      '\n- ',
      '...',
      '---',
      '%',
      '@',
      '`',
      '\\',
      '\\n',
      '0x1F',
      '0o17',
      '1e3',
      '.inf',
      '.NaN',
      '~',
      'null',
      'True',
      'yes',
      '1_000',
      '0b11',
      '+1',
      '-',
      '.',
      '<<: ',
      'key: v',
      '\n  k: v',
      ', : ',
      '\n: ',
      'name: x\n',
      'description: >\n  a\n',
      '- a\n- b',
      '"a\\x41"',
      "'it''s'",
      'é',
      '😀',
      '\r',
    ];
    const failures: string[] = [];
    for (let n = 0; n < 8000; n++) {
      let text = pick(bases);
      const edits = 1 + Math.floor(rnd() * 6);
      for (let e = 0; e < edits; e++) {
        const at = Math.floor(rnd() * (text.length + 1));
        const r = rnd();
        if (r < 0.7) text = text.slice(0, at) + pick(PIECES) + text.slice(at);
        else if (r < 0.85) text = text.slice(0, at) + text.slice(at + 1 + Math.floor(rnd() * 3));
        else {
          const lines = text.split('\n');
          lines.splice(Math.floor(rnd() * lines.length), 0, pick(lines));
          text = lines.join('\n');
        }
      }
      const shape = rnd();
      if (shape < 0.1)
        text = text
          .split('\n')
          .map((l) => `  ${l}`)
          .join('\n');
      else if (shape < 0.15) text = `{${text.split('\n').join(', ')}}`;
      else if (shape < 0.2) text = `# about\n\n${text}`;
      const d = disagreement(text);
      if (d) failures.push(`${d}\n${JSON.stringify(text)}`);
    }
    expect(failures.slice(0, 3)).toEqual([]);
  });
});
