// The CLI as users run it (the bundled dist/bin) on a GitHub source: Octokit and its plugins load only when a
// GitHub source is crawled, from the CLI's bundle, and must work there as they do from dist/src.
import Database from 'better-sqlite3';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it, onTestFinished } from 'vitest';
import { startFakeGitHub, type FakeGitHub } from './fixtures/fake-github.js';
import { cliPath, tempDir } from './helpers.js';

const run = promisify(execFile);
const TOKEN = 'ghp_clitestsecret456';
const FM = (name: string): string =>
  `---\nname: ${name}\ndescription: Helps with ${name} work in a repository.\n---\n\n# ${name}\n`;

let gh: FakeGitHub;

beforeEach(async () => {
  gh = await startFakeGitHub({ tokens: [TOKEN] });
  gh.addRepo({
    owner: 'acme',
    name: 'skills',
    files: { 'skills/alpha/SKILL.md': FM('alpha'), 'skills/beta/SKILL.md': FM('beta'), 'README.md': '# x\n' },
  });
});

afterEach(async () => {
  await gh.close();
});

describe('skillsmith-index index, GitHub source', () => {
  it('indexes a repository through the API, then finds it unchanged, and never prints the token', async () => {
    const { dir, cleanup } = tempDir('skillsmith-github-cli-');
    onTestFinished(cleanup);
    const sources = join(dir, 'sources.yaml');
    writeFileSync(
      sources,
      `sources:\n  - { id: gh, kind: github, location: 'github:acme/skills', apiUrl: '${gh.url}' }\n`,
    );
    const db = join(dir, 'skills.db');
    const env = { ...process.env, GITHUB_TOKEN: TOKEN };
    const index = () =>
      run(process.execPath, [cliPath, 'index', '--sources', sources, '--db', db, '--json'], { env });

    const first = await index();
    const summary = JSON.parse(first.stdout) as { status: string; counts: Record<string, number> };
    expect(summary.status).toBe('completed');
    expect(summary.counts).toMatchObject({ seen: 2, indexed: 2, failed: 0, embedded: 2 });
    expect(first.stdout + first.stderr).not.toContain(TOKEN);

    const conn = new Database(db, { readonly: true });
    try {
      const ids = conn.prepare('SELECT id FROM skills ORDER BY id').pluck().all();
      expect(ids).toEqual(['gh/skills/alpha', 'gh/skills/beta']);
    } finally {
      conn.close();
    }

    const second = JSON.parse((await index()).stdout) as { counts: Record<string, number> };
    expect(second.counts).toMatchObject({ seen: 2, unchanged: 2, indexed: 0, embedded: 0 });
  });
});
