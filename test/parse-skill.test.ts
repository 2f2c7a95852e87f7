import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crawlDir } from '../src/producer/dir-source.js';
import { parseSkill } from '../src/stages/parse-skill.js';
import type { ParseResult } from '../src/stages/parse-skill.js';
import { contentHash } from '../src/shared/content-hash.js';
import { ERROR_CODES, WARNING_CODES } from '../src/shared/errors.js';
import { frontMatterSchema } from '../src/shared/front-matter.js';
import type { CrawlProblem, SkillDoc, SkillUnchanged } from '../src/shared/skill-doc.js';
import { corpusDir, sharedDir, tempDir } from './helpers.js';

const temp = tempDir('skillsmith-parse-skill-');
afterAll(() => temp.cleanup());
let fixtureCount = 0;

/**
 * Writes a skill folder `<fresh temp root>/<folder>/SKILL.md` (plus siblings) exactly as given (string or raw
 * bytes), crawls it with the real dir source and parses the one SkillDoc: the path real files take.
 */
async function parseFixture(
  skillMd: string | Buffer,
  opts: { folder?: string; siblings?: Record<string, string> } = {},
): Promise<{ doc: SkillDoc; result: ParseResult }> {
  const root = join(temp.dir, `case-${++fixtureCount}`);
  const folder = opts.folder ?? 'my-skill';
  const files: Record<string, string | Buffer> = { 'SKILL.md': skillMd, ...opts.siblings };
  for (const [name, content] of Object.entries(files)) {
    const abs = join(root, folder, name);
    mkdirSync(dirname(abs), { recursive: true });
    writeFileSync(abs, content);
  }
  const items: (SkillDoc | SkillUnchanged | CrawlProblem)[] = [];
  for await (const item of crawlDir({ root, sourceId: 'src' })) items.push(item);
  expect(items).toHaveLength(1);
  const doc = items[0] as SkillDoc;
  expect(doc.files).toBeDefined();
  return { doc, result: parseSkill(doc) };
}

function rejected(result: ParseResult): Extract<ParseResult, { ok: false }> {
  if (result.ok) throw new Error(`expected a rejection, got ${JSON.stringify(result.skill)}`);
  return result;
}

function accepted(result: ParseResult): Extract<ParseResult, { ok: true }> {
  if (!result.ok) throw new Error(`expected the skill to be indexed, got ${result.code}: ${result.message}`);
  return result;
}

describe('parseSkill: well-formed skills', () => {
  it('indexes a spec-conforming skill with all its fields and no warnings', async () => {
    const { doc, result } = await parseFixture(
      [
        '---',
        'name: pdf-tools',
        'description: Extract text and tables from PDF files. Use when the user mentions PDFs.',
        'license: Apache-2.0',
        'allowed-tools: Read, Grep Bash(git status:*)',
        'metadata:',
        '  author: someone',
        '  version: "1.0"',
        'origin: elsewhere',
        '---',
        '',
        '# PDF tools',
        '',
        'Body text.',
        '',
      ].join('\n'),
      { folder: 'pdf-tools' },
    );
    const { skill, warnings } = accepted(result);
    expect(warnings).toEqual([]);
    expect(skill).toEqual({
      id: 'src/pdf-tools',
      sourceId: 'src',
      path: 'pdf-tools',
      name: 'pdf-tools',
      description: 'Extract text and tables from PDF files. Use when the user mentions PDFs.',
      license: 'Apache-2.0',
      allowedTools: ['Read', 'Grep', 'Bash(git status:*)'],
      metadata: { author: 'someone', version: '1.0' },
      frontMatter: {
        name: 'pdf-tools',
        description: 'Extract text and tables from PDF files. Use when the user mentions PDFs.',
        license: 'Apache-2.0',
        'allowed-tools': 'Read, Grep Bash(git status:*)',
        metadata: { author: 'someone', version: '1.0' },
        origin: 'elsewhere',
      },
      body: '# PDF tools\n\nBody text.\n',
      contentHash: doc.contentHash,
    });
    expect(frontMatterSchema.safeParse(skill.frontMatter).success).toBe(true);
  });

  it('accepts allowed-tools as a YAML list', async () => {
    const { result } = await parseFixture(
      '---\nname: x\ndescription: d\nallowed-tools:\n  - Read\n  - " Write "\n  - Bash(npm run *)\n---\nbody\n',
    );
    expect(accepted(result).skill.allowedTools).toEqual(['Read', 'Write', 'Bash(npm run *)']);
  });

  it("accepts '...' as the closing line of the front matter", async () => {
    const { result } = await parseFixture('---\nname: dots\ndescription: closed with dots\n...\nbody\n');
    expect(accepted(result).skill.body).toBe('body\n');
  });

  it('slices the body off after the closing line: blank lines dropped, a closer on the last line, an empty block', async () => {
    const fm = 'name: my-skill\ndescription: Does things.';
    const body = async (md: string): Promise<string> => accepted((await parseFixture(md)).result).skill.body;
    expect(await body(`---\n${fm}\n---\n\n\n# Title\n\ntext\n`)).toBe('# Title\n\ntext\n');
    expect(await body(`---\n${fm}\n---`)).toBe('');
    expect(await body(`---\n${fm}\n...\n---\nnot front matter`)).toBe('---\nnot front matter');
    expect(await body(`---\n${fm}\n---  \nafter a closer with trailing spaces`)).toBe(
      'after a closer with trailing spaces',
    );
    // An empty block closes at once; the description then comes from the body's paragraph.
    const empty = accepted((await parseFixture('---\n---\n# T\n\nA paragraph.\n')).result);
    expect(empty.skill.body).toBe('# T\n\nA paragraph.\n');
  });

  it('appends sibling .md files to the body under a file marker, in crawl order', async () => {
    const { result } = await parseFixture('---\nname: s\ndescription: d\n---\n\nmain body\n', {
      siblings: { 'zz.md': 'last file', 'aa.md': 'first file' },
    });
    expect(accepted(result).skill.body).toBe(
      'main body\n\n\n<!-- file: aa.md -->\nfirst file\n\n<!-- file: zz.md -->\nlast file',
    );
  });

  it('reads a BOM-prefixed file', async () => {
    const bytes = Buffer.concat([
      Buffer.from([0xef, 0xbb, 0xbf]),
      Buffer.from('---\nname: bom\ndescription: d\n---\nb\n'),
    ]);
    const { skill, warnings } = accepted((await parseFixture(bytes, { folder: 'bom' })).result);
    expect(warnings).toEqual([]);
    expect(skill.name).toBe('bom');
  });

  it('reads a CRLF file and keeps no carriage returns', async () => {
    const { result } = await parseFixture(
      '---\r\nname: crlf\r\ndescription: |\r\n  two\r\n  lines\r\n---\r\nbody\r\n',
    );
    const { skill } = accepted(result);
    expect(skill.description).toBe('two\nlines');
    expect(skill.body).toBe('body\n');
    expect(JSON.stringify(skill)).not.toContain('\\r');
  });

  it('uses YAML 1.2 core types and keeps the front matter JSON-safe', async () => {
    const { result } = await parseFixture(
      [
        '---',
        'name: types',
        'description: d',
        'enabled: yes',
        'created: 2024-01-02',
        'stamp: !!timestamp 2024-01-02T03:04:05Z',
        'ratio: .inf',
        'nothing: .nan',
        'version: 1.10',
        '__proto__: { polluted: true }',
        '---',
        'b',
      ].join('\n'),
    );
    const fm = accepted(result).skill.frontMatter;
    expect(fm['enabled']).toBe('yes');
    expect(fm['created']).toBe('2024-01-02');
    expect(typeof fm['stamp']).toBe('string');
    expect(fm['ratio']).toBe('Infinity');
    expect(fm['nothing']).toBe('NaN');
    expect(fm['version']).toBe(1.1);
    expect(JSON.parse(JSON.stringify(fm))).toEqual(fm);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it('allows duplicate keys, the last one winning, warning DUPLICATE_KEY at the repeat', async () => {
    const { result } = await parseFixture(
      '---\nname: dup\ndescription: first\ndescription: second\n---\nb\n',
      { folder: 'dup' },
    );
    const { skill, warnings } = accepted(result);
    expect(skill.description).toBe('second');
    expect(warnings).toEqual([
      {
        code: WARNING_CODES.DUPLICATE_KEY,
        message: "line 4: key 'description' appears more than once in the same mapping; the last one is used",
      },
    ]);
  });

  it('labels a skill at the source root as <sourceId>/SKILL.md and names it after the source', () => {
    const files = [{ path: 'SKILL.md', text: '---\ndescription: root skill\n---\nb' }];
    const result = parseSkill({
      id: 'team-skills/.',
      sourceId: 'team-skills',
      path: '.',
      files,
      contentHash: contentHash(files),
    });
    const { skill, warnings } = accepted(result);
    expect(skill.name).toBe('team-skills');
    expect(warnings[0]?.message).toMatch(/^team-skills\/SKILL\.md: /);
  });
});

describe('parseSkill: rejected skills', () => {
  it('rejects a file without front matter nor H1 title as NO_FRONT_MATTER with the fix in the message', async () => {
    const { result } = await parseFixture('Just some text.\n\nMore text.\n');
    expect(rejected(result)).toEqual({
      ok: false,
      code: ERROR_CODES.NO_FRONT_MATTER,
      message:
        "src/my-skill/SKILL.md has no YAML front matter: it must start with a line '---', then name/description, then '---'",
    });
  });

  it("rejects an opening '---' that is never closed and has no key line after it, pointing at line 1", async () => {
    const { result } = await parseFixture('---\n# Body\nname: open\n\ntext\n');
    const r = rejected(result);
    expect(r.code).toBe(ERROR_CODES.NO_FRONT_MATTER);
    expect(r.line).toBe(1);
    expect(r.message).toMatch(/^src\/my-skill\/SKILL\.md line 1: .*never closed.*first blank line is line 4/);
  });

  it('rejects pseudo front matter written as Markdown, saying which line looks like a field', async () => {
    const { result } = await parseFixture(
      'Sample\n\n---\n\n**Name**: sample-skill\n**Tier**: BASIC\n\n---\n\nBody\n',
    );
    const r = rejected(result);
    expect(r.code).toBe(ERROR_CODES.NO_FRONT_MATTER);
    expect(r.message).toMatch(
      /line 5 looks like a 'name:' field, but fields only count in a '---' block that starts on line 1/,
    );
  });

  it("rejects '### Name:' headings as front matter", async () => {
    const { result } = await parseFixture('### Name: tutor\n\n**Description:** helps\n');
    expect(rejected(result).message).toMatch(/line 1 looks like a 'name:' field/);
  });

  it('rejects front matter that does not start on line 1, saying so', async () => {
    const { result } = await parseFixture('\n\n---\nname: late\ndescription: d\n---\n');
    const r = rejected(result);
    expect(r.code).toBe(ERROR_CODES.NO_FRONT_MATTER);
    expect(r.message).toMatch(/the '---' on line 3 must be the very first line/);
  });

  it('rejects a BOM + CRLF file without front matter nor title as NO_FRONT_MATTER', async () => {
    const bytes = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('Title\r\n\r\ntext\r\n')]);
    expect(rejected((await parseFixture(bytes)).result).code).toBe(ERROR_CODES.NO_FRONT_MATTER);
  });

  it("rejects an unquoted ': ' in a multi-line value as INVALID_YAML with the SKILL.md line and a quoting hint", async () => {
    const { result } = await parseFixture(
      '---\nname: host-ping\ndescription: Detect if a host (IP: 39.106.7.8) is up\n  and more\n---\nbody\n',
    );
    const r = rejected(result);
    expect(r.code).toBe(ERROR_CODES.INVALID_YAML);
    expect(r.line).toBe(3);
    expect(r.message).toMatch(/^src\/my-skill\/SKILL\.md line 3: invalid YAML front matter: /);
    expect(r.message).toMatch(
      /Hint: the value of 'description' contains ': ' \(column 34\).*quote the value/,
    );
    expect(r.message).toContain('description: "Detect if a host (IP: 39.106.7.8) is up"');
  });

  it('rejects other YAML errors with the line but without the quoting hint', async () => {
    const { result } = await parseFixture(
      '---\nname: x\ndescription: "unterminated\nlicense: MIT\n---\nbody\n',
    );
    const r = rejected(result);
    expect(r.code).toBe(ERROR_CODES.INVALID_YAML);
    expect(r.line).toBeGreaterThanOrEqual(3);
    expect(r.message).not.toMatch(/Hint/);
  });

  it('rejects a YAML alias bomb instead of expanding it', async () => {
    const lines = ['---', 'a: &a ["x","x","x","x","x","x","x","x","x","x"]'];
    for (let i = 0; i < 8; i++) {
      const prev = String.fromCharCode(97 + i);
      const next = String.fromCharCode(98 + i);
      lines.push(
        `${next}: &${next} [*${prev},*${prev},*${prev},*${prev},*${prev},*${prev},*${prev},*${prev},*${prev},*${prev}]`,
      );
    }
    lines.push('description: boom', '---', 'b');
    expect(rejected((await parseFixture(lines.join('\n'))).result).code).toBe(ERROR_CODES.INVALID_YAML);
  });

  it.each([
    ['a list', '- name: x\n- description: y'],
    ['a single string value', 'just a sentence'],
  ])('rejects front matter that is %s as FRONT_MATTER_NOT_MAPPING', async (kind, yaml) => {
    const r = rejected((await parseFixture(`---\n${yaml}\n---\nbody\n`)).result);
    expect(r.code).toBe(ERROR_CODES.FRONT_MATTER_NOT_MAPPING);
    expect(r.message).toContain(kind);
    expect(r.message).toMatch(/^src\/my-skill\/SKILL\.md line 2: /);
  });

  it.each([
    [
      'missing',
      '---\nname: x\n---\n# Only a title\n',
      /has no 'description' and the body has no paragraph/,
      undefined,
    ],
    ['empty', '---\nname: x\ndescription: "  "\n---\n', /has an empty 'description' and the body has no/, 3],
    ['null', '---\nname: x\ndescription:\n---\n```\ncode\n```\n', /has an empty 'description'/, 3],
    ['a number', '---\nname: x\ndescription: 42\n---\nb\n', /is a number \(42\), not text \(quote it\)/, 3],
    ['a list', '---\nname: x\ndescription: [a, b]\n---\nb\n', /is a list, not text/, 3],
    ['in an empty block', '---\n---\n- just a list\n', /has no 'description'/, undefined],
  ])(
    'rejects a description that is %s (and no paragraph to use) as MISSING_DESCRIPTION',
    async (_kind, text, message, line) => {
      const r = rejected((await parseFixture(text)).result);
      expect(r.code).toBe(ERROR_CODES.MISSING_DESCRIPTION);
      expect(r.message).toMatch(message);
      expect(r.message).toMatch(/add 'description: /);
      expect(r.line).toBe(line);
    },
  );

  it('rejects a SkillDoc without a SKILL.md file as READ_FAILED', () => {
    const files = [{ path: 'other.md', text: 'x' }];
    const r = rejected(
      parseSkill({ id: 's/a', sourceId: 's', path: 'a', files, contentHash: contentHash(files) }),
    );
    expect(r.code).toBe(ERROR_CODES.READ_FAILED);
  });
});

describe('parseSkill: indexed with warnings', () => {
  it('indexes a skill without name under its folder name, warning MISSING_NAME', async () => {
    const { result } = await parseFixture('---\ndescription: no name here\n---\nbody\n', {
      folder: 'make-cl',
    });
    const { skill, warnings } = accepted(result);
    expect(skill.name).toBe('make-cl');
    expect(warnings).toEqual([
      {
        code: WARNING_CODES.MISSING_NAME,
        message: expect.stringMatching(/^src\/make-cl\/SKILL\.md: .*no 'name'.*folder name "make-cl"/),
      },
    ]);
  });

  it.each([
    ['uppercase and spaces', 'PDF Tools'],
    ['a trailing hyphen', 'pdf-'],
    ['a double hyphen', 'pdf--tools'],
    ['65 characters', 'a'.repeat(65)],
  ])('keeps a name with %s as written, warning INVALID_NAME with its line', async (_kind, name) => {
    const { result } = await parseFixture(`---\ndescription: d\nname: "${name}"\n---\nb\n`, { folder: name });
    const { skill, warnings } = accepted(result);
    expect(skill.name).toBe(name);
    expect(warnings.map((w) => w.code)).toEqual([WARNING_CODES.INVALID_NAME]);
    expect(warnings[0]?.message).toMatch(/^src\/.+\/SKILL\.md line 3: 'name' /);
  });

  it('indexes a numeric name as text, warning BAD_FIELD_TYPE', async () => {
    const { skill, warnings } = accepted(
      (await parseFixture('---\nname: 2048\ndescription: d\n---\nb\n', { folder: '2048' })).result,
    );
    expect(skill.name).toBe('2048');
    expect(warnings.map((w) => w.code)).toEqual([WARNING_CODES.BAD_FIELD_TYPE]);
  });

  it('warns LONG_DESCRIPTION over 1024 characters and keeps the description in full', async () => {
    const long = 'word '.repeat(300).trim();
    const { skill, warnings } = accepted(
      (await parseFixture(`---\nname: long\ndescription: ${long}\n---\nb\n`, { folder: 'long' })).result,
    );
    expect(skill.description).toBe(long);
    expect(warnings).toEqual([
      {
        code: WARNING_CODES.LONG_DESCRIPTION,
        message: expect.stringMatching(/line 3: 'description' is 1499 characters/),
      },
    ]);
  });

  it('warns BAD_FIELD_TYPE for license, allowed-tools and metadata of the wrong type, keeping them in frontMatter', async () => {
    const { result } = await parseFixture(
      '---\nname: typed\ndescription: d\nlicense: 3\nallowed-tools: { Read: true }\nmetadata: just text\n---\nb\n',
      { folder: 'typed' },
    );
    const { skill, warnings } = accepted(result);
    expect([skill.license, skill.allowedTools, skill.metadata]).toEqual([null, null, null]);
    expect(skill.frontMatter).toMatchObject({
      license: 3,
      'allowed-tools': { Read: true },
      metadata: 'just text',
    });
    expect(warnings.map((w) => [w.code, w.message.match(/line \d+: '[a-z-]+'/)?.[0]])).toEqual([
      [WARNING_CODES.BAD_FIELD_TYPE, "line 4: 'license'"],
      [WARNING_CODES.BAD_FIELD_TYPE, "line 5: 'allowed-tools'"],
      [WARNING_CODES.BAD_FIELD_TYPE, "line 6: 'metadata'"],
    ]);
  });
});

describe('parseSkill: recovered, always with a W_RECOVERED_* warning', () => {
  it("(a) re-parses one-line values with an unquoted ': ' quoted, keeping ' #' as text", async () => {
    const { result } = await parseFixture(
      '---\nname: host-ping\ndescription: Detect if a host (IP: 39.106.7.8) is up #ops\nlicense: MIT\n---\nbody\n',
      { folder: 'host-ping' },
    );
    const { skill, warnings } = accepted(result);
    expect(skill.description).toBe('Detect if a host (IP: 39.106.7.8) is up #ops');
    expect(skill.license).toBe('MIT');
    expect(warnings).toEqual([
      {
        code: WARNING_CODES.RECOVERED_UNQUOTED_VALUE,
        message: expect.stringMatching(/^src\/host-ping\/SKILL\.md: .*'description' \(line 3\) quoted/),
      },
    ]);
  });

  it('(a) quotes every faulty line, including nested ones, and keeps their other keys', async () => {
    const { result } = await parseFixture(
      '---\nname: multi\ndescription: Use it: now\nmetadata:\n  hint: a: b\n  author: me\n---\nb\n',
      { folder: 'multi' },
    );
    const { skill, warnings } = accepted(result);
    expect(skill.metadata).toEqual({ hint: 'a: b', author: 'me' });
    expect(warnings.map((w) => w.code)).toEqual([WARNING_CODES.RECOVERED_UNQUOTED_VALUE]);
    expect(warnings[0]?.message).toMatch(/'description' \(line 3\), 'hint' \(line 5\) quoted/);
  });

  it('(a) never quotes lines inside a block scalar, so its text stays as written', async () => {
    const { result } = await parseFixture(
      '---\nname: block\ndescription: |\n  Use it: for notes\n  key: a: b\nlicense: Apache: 2\n---\nb\n',
      { folder: 'block' },
    );
    const { skill, warnings } = accepted(result);
    expect(skill.description).toBe('Use it: for notes\nkey: a: b');
    expect(skill.license).toBe('Apache: 2');
    expect(warnings[0]?.message).toMatch(/'license' \(line 6\) quoted/);
  });

  it('(b) names a file without front matter after its folder and describes it by the first paragraph after its H1', async () => {
    const { result } = await parseFixture(
      '# Vault Daydream\n\n## Usage\n\n```\n/daydream\n```\n\n| a | b |\n\nMines the vault for\nnon-obvious connections.\n\nSecond paragraph.\n',
      { folder: 'daydream' },
    );
    const { skill, warnings } = accepted(result);
    expect(skill.name).toBe('daydream');
    expect(skill.description).toBe('Mines the vault for non-obvious connections.');
    expect(skill.frontMatter).toEqual({});
    expect(skill.body).toMatch(/^# Vault Daydream\n/);
    expect(warnings).toEqual([
      {
        code: WARNING_CODES.RECOVERED_NO_FRONT_MATTER,
        message: expect.stringMatching(
          /no YAML front matter: indexed under the folder name "daydream".*line 1/,
        ),
      },
    ]);
  });

  it('(b) skips a block of **Key**: value pseudo-fields and reads a BOM + CRLF file', async () => {
    const bytes = Buffer.concat([
      Buffer.from([0xef, 0xbb, 0xbf]),
      Buffer.from(
        '# Sample\r\n\r\n---\r\n\r\n**Name**: sample\r\n**Tier**: BASIC\r\n\r\n> Processes text.\r\n',
      ),
    ]);
    const { skill, warnings } = accepted((await parseFixture(bytes)).result);
    expect(skill.description).toBe('Processes text.');
    expect(warnings.map((w) => w.code)).toEqual([WARNING_CODES.RECOVERED_NO_FRONT_MATTER]);
  });

  it('(b) keeps rejecting a titled file with no paragraph, with its reason', async () => {
    const r = rejected((await parseFixture('# Title\n\n- only\n- a list\n')).result);
    expect(r.code).toBe(ERROR_CODES.NO_FRONT_MATTER);
  });

  it('(c) reads the key lines of a front matter that is never closed and keeps the rest as the body', async () => {
    const { result } = await parseFixture(
      '---\nname: gogcli\ndescription: Google Workspace CLI: Gmail, Drive.\n\n# gogcli\n\ntext\n',
      { folder: 'gogcli' },
    );
    const { skill, warnings } = accepted(result);
    expect(skill.name).toBe('gogcli');
    expect(skill.description).toBe('Google Workspace CLI: Gmail, Drive.');
    expect(skill.body).toBe('# gogcli\n\ntext\n');
    expect(warnings.map((w) => w.code)).toEqual([
      WARNING_CODES.RECOVERED_UNCLOSED_FRONT_MATTER,
      WARNING_CODES.RECOVERED_UNQUOTED_VALUE,
    ]);
    expect(warnings[0]?.message).toMatch(/line 1: .*never closed; read lines 2–3 as front matter/);
  });

  it('(d) uses the first paragraph of the body for a missing or empty description', async () => {
    for (const fm of ['name: x', 'name: x\ndescription: ""']) {
      const { result } = await parseFixture(`---\n${fm}\n---\n\n# X\n\nDefault skill\n`, { folder: 'x' });
      const { skill, warnings } = accepted(result);
      expect(skill.description).toBe('Default skill');
      expect(warnings.map((w) => w.code)).toEqual([WARNING_CODES.RECOVERED_DESCRIPTION]);
      expect(warnings[0]?.message).toMatch(/the body's first paragraph is used instead/);
    }
  });
});

describe('parseSkill: spec warnings', () => {
  it('warns NAME_MISMATCH when the name differs from the folder (compared NFKC-normalised)', async () => {
    const mismatch = accepted(
      (await parseFixture('---\nname: apple-mail\ndescription: d\n---\nb\n', { folder: 'mail' })).result,
    );
    expect(mismatch.warnings).toEqual([
      {
        code: WARNING_CODES.NAME_MISMATCH,
        message: expect.stringMatching(/line 2: 'name' "apple-mail" differs from its folder name "mail"/),
      },
    ]);
    const nfkc = accepted(
      (await parseFixture('---\nname: ｐｄｆ\ndescription: d\n---\nb\n', { folder: 'pdf' })).result,
    );
    expect(nfkc.warnings.map((w) => w.code)).toEqual([]);
  });

  it('accepts a lowercase CJK or Cyrillic name, as the reference validator does', async () => {
    for (const name of ['数据分析', 'данные-2']) {
      const { warnings } = accepted(
        (await parseFixture(`---\nname: ${name}\ndescription: d\n---\nb\n`, { folder: name })).result,
      );
      expect(warnings, name).toEqual([]);
    }
  });

  it('warns BAD_FIELD_TYPE for a compatibility that is not text and LONG_COMPATIBILITY over 500 characters', async () => {
    const list = accepted(
      (await parseFixture('---\nname: c\ndescription: d\ncompatibility: [a, b]\n---\nb\n', { folder: 'c' }))
        .result,
    );
    expect(list.warnings.map((w) => [w.code, w.message.match(/line \d+: '\w+'/)?.[0]])).toEqual([
      [WARNING_CODES.BAD_FIELD_TYPE, "line 4: 'compatibility'"],
    ]);
    const long = accepted(
      (
        await parseFixture(`---\nname: c\ndescription: d\ncompatibility: ${'x'.repeat(501)}\n---\nb\n`, {
          folder: 'c',
        })
      ).result,
    );
    expect(long.warnings).toEqual([
      {
        code: WARNING_CODES.LONG_COMPATIBILITY,
        message: expect.stringMatching(/line 4: 'compatibility' is 501 characters, over the 500/),
      },
    ]);
  });

  it('warns METADATA_NOT_STRING for metadata values that are not strings, keeping them', async () => {
    const { skill, warnings } = accepted(
      (
        await parseFixture(
          '---\nname: m\ndescription: d\nmetadata:\n  author: me\n  version: 1.0\n  tags: [a]\n---\nb\n',
          { folder: 'm' },
        )
      ).result,
    );
    expect(skill.metadata).toEqual({ author: 'me', version: 1, tags: ['a'] });
    expect(warnings).toEqual([
      {
        code: WARNING_CODES.METADATA_NOT_STRING,
        message: expect.stringMatching(
          /line 4: 'metadata' should map keys to strings, but 'version' \(a number \(1\)\), 'tags' \(a list\) are not/,
        ),
      },
    ]);
  });

  it('warns DUPLICATE_KEY inside nested mappings too', async () => {
    const { warnings } = accepted(
      (
        await parseFixture('---\nname: d\ndescription: d\nmetadata:\n  a: "1"\n  a: "2"\n---\nb\n', {
          folder: 'd',
        })
      ).result,
    );
    expect(warnings.map((w) => w.message)).toEqual([
      "line 6: key 'a' appears more than once in the same mapping; the last one is used",
    ]);
  });
});

/** Paths listed under a `**Heading**` in STATS.md. */
function statsList(stats: string, heading: string): string[] {
  const start = stats.indexOf(`**${heading}**`);
  if (start < 0) throw new Error(`STATS.md has no section "${heading}"`);
  const section = stats.slice(start).split('\n\n')[1] ?? '';
  return [...section.matchAll(/^- `([^`]+)`/gm)].map((m) => m[1] as string);
}

describe.skipIf(!existsSync(corpusDir))('crawling and parsing the real corpus', () => {
  const outcome = new Map<string, ParseResult>();
  const problems: CrawlProblem[] = [];
  let files = 0;
  let stats = '';

  beforeAll(async () => {
    stats = readFileSync(join(sharedDir, 'corpus', 'STATS.md'), 'utf8');
    for await (const item of crawlDir({ root: corpusDir, sourceId: 'corpus' })) {
      if ('files' in item) {
        files += item.files.length;
        outcome.set(item.path, parseSkill(item));
      } else if ('code' in item) problems.push(item);
    }
  });

  it('sees all 1467 skills and 1723 files with no crawl problems', () => {
    expect(problems).toEqual([]);
    expect(outcome.size).toBe(1467);
    expect(files).toBe(1723);
  });

  it('ends every skill in exactly one of indexed / indexed with warnings / rejected with a reason', () => {
    const buckets = { indexed: 0, warned: 0, rejected: 0 };
    for (const r of outcome.values()) {
      if (!r.ok) {
        expect(Object.values(ERROR_CODES)).toContain(r.code);
        expect(r.message).toMatch(/SKILL\.md/);
        buckets.rejected++;
      } else if (r.warnings.length > 0) buckets.warned++;
      else buckets.indexed++;
    }
    expect(buckets.indexed + buckets.warned + buckets.rejected).toBe(1467);
  });

  it('recovers 55 of the 56 skills STATS.md lists as bad, each with the warning of its case', () => {
    const cases: [string, number, string][] = [
      ['No front matter', 30, WARNING_CODES.RECOVERED_NO_FRONT_MATTER],
      ['Invalid YAML front matter', 24, WARNING_CODES.RECOVERED_UNQUOTED_VALUE],
      ['Valid front matter, missing description', 2, WARNING_CODES.RECOVERED_DESCRIPTION],
    ];
    const unclosed = 'openclaw__skills/skills/luccast/gogcli';
    let recovered = 0;
    for (const [heading, count, code] of cases) {
      const paths = statsList(stats, heading);
      expect(paths).toHaveLength(count);
      for (const p of paths) {
        const r = outcome.get(p);
        if (!r?.ok) continue;
        recovered++;
        const expected = p === unclosed ? WARNING_CODES.RECOVERED_UNCLOSED_FRONT_MATTER : code;
        expect(
          r.warnings.map((w) => w.code),
          p,
        ).toContain(expected);
      }
    }
    expect(recovered).toBe(55);
  });

  it('keeps rejecting the one bad skill with no H1 title, with its reason', () => {
    const rejectedPaths = [...outcome].filter(([, r]) => !r.ok);
    expect(rejectedPaths.map(([p, r]) => [p, r.ok ? '' : r.code])).toEqual([
      ['openclaw__skills/skills/fobonacci404/gaokao-history-tutor', ERROR_CODES.NO_FRONT_MATTER],
    ]);
    const [, r] = rejectedPaths[0] as [string, ParseResult];
    expect(r.ok ? '' : r.message).toMatch(/line 1 looks like a 'name:' field/);
  });

  it('indexes 1,209 skills clean and 257 with warnings', () => {
    const ok = [...outcome.values()].filter((r) => r.ok);
    expect(ok.filter((r) => r.warnings.length === 0)).toHaveLength(1209);
    expect(ok.filter((r) => r.warnings.length > 0)).toHaveLength(257);
  });

  it('indexes the 7 skills without name under their folder name, with a MISSING_NAME warning', () => {
    const paths = statsList(stats, 'Valid front matter, missing name');
    expect(paths).toHaveLength(7);
    for (const p of paths) {
      const r = outcome.get(p);
      expect(r?.ok, p).toBe(true);
      if (!r?.ok) continue;
      expect(r.warnings.map((w) => w.code)).toContain(WARNING_CODES.MISSING_NAME);
      expect(r.skill.name).toBe(p.split('/').pop());
    }
  });

  it('indexes the BOM and CRLF skills that have front matter', () => {
    const noFrontMatter = new Set(statsList(stats, 'No front matter'));
    const paths = [...statsList(stats, 'UTF-8 BOM'), ...statsList(stats, 'CRLF line endings')];
    expect(paths.length).toBe(23);
    for (const p of paths.filter((x) => !noFrontMatter.has(x))) expect(outcome.get(p)?.ok, p).toBe(true);
  });

  it('gives the byte-identical pair the same content hash', async () => {
    const pair = [
      'openclaw__skills/skills/shashwatgtm/content-writing-thought-leadership',
      'openclaw__skills/skills/shashwatgtm/social-media-management',
    ];
    const hashes = pair.map((p) => {
      const r = outcome.get(p);
      return r?.ok ? r.skill.contentHash : undefined;
    });
    expect(hashes[0]).toMatch(/^[0-9a-f]{64}$/);
    expect(hashes[1]).toBe(hashes[0]);
  });

  it('keeps warning-free front matter valid against the strict front matter schema', () => {
    for (const [p, r] of outcome) {
      if (r.ok && r.warnings.length === 0)
        expect(frontMatterSchema.safeParse(r.skill.frontMatter).success, p).toBe(true);
    }
  });
});
