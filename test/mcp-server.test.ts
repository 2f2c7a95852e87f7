import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliPath, corpusDir, repoRoot, tempDir } from './helpers.js';
import { freePort } from './support/redis.js';
import { runCli, startRole, waitFor, type RoleProcess } from './support/roles.js';

const examples = join(repoRoot, 'examples', 'skills');

/** The environment of a spawned server: this process's, as strings (what the SDK's transport takes). */
function env(extra: Record<string, string> = {}): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) out[k] = v;
  return { ...out, ...extra };
}

/** An SDK client talking to `skillsmith-index mcp --db <db>` over stdio, the real built binary. */
async function stdioClient(db: string): Promise<Client> {
  const client = new Client({ name: 'skillsmith-test', version: '1.0.0' });
  await client.connect(
    new StdioClientTransport({
      command: process.execPath,
      args: [cliPath, 'mcp', '--db', db],
      env: env({ LOG_LEVEL: 'warn' }),
      stderr: 'inherit',
    }),
  );
  return client;
}

async function call(
  client: Client,
  name: string,
  args: Record<string, unknown> = {},
): Promise<CallToolResult> {
  return (await client.callTool({ name, arguments: args })) as CallToolResult;
}

const textOf = (r: CallToolResult): string =>
  r.content.map((c) => (c.type === 'text' ? c.text : '')).join('\n');

interface Hit {
  id: string;
  name: string;
  source: string;
  path: string;
  uri: string;
  score: number;
  description: string;
}
const hitsOf = (r: CallToolResult): Hit[] => (r.structuredContent as { results: Hit[] }).results;

describe('skillsmith-index mcp (stdio, SDK client)', () => {
  let tmp: ReturnType<typeof tempDir>;
  let db: string;
  let client: Client;

  beforeAll(async () => {
    tmp = tempDir('skillsmith-mcp-');
    db = join(tmp.dir, 'skills.db');
    const r = runCli(['index', examples, '--db', db, '--json']);
    expect(r.status, r.stderr).toBe(0);
    client = await stdioClient(db);
  });

  afterAll(async () => {
    await client?.close();
    tmp?.cleanup();
  });

  it('lists its three read-only tools with zod-made input schemas', async () => {
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(['get_skill', 'list_sources', 'search_skills']);
    const search = tools.find((t) => t.name === 'search_skills');
    expect(search?.inputSchema.required).toEqual(['query']);
    expect(search?.inputSchema.properties?.query).toMatchObject({ type: 'string', maxLength: 2000 });
    expect(search?.inputSchema.properties?.k).toMatchObject({ type: 'integer', maximum: 50 });
    expect(search?.annotations?.readOnlyHint).toBe(true);
  });

  it('search_skills returns structured hits with skill:// links and a text rendering', async () => {
    const r = await call(client, 'search_skills', { query: 'why does my test fail only sometimes', k: 3 });
    expect(r.isError).toBeFalsy();
    const hits = hitsOf(r);
    expect(hits.length).toBe(3);
    expect(hits[0]).toMatchObject({
      id: 'skills/flaky-test-triage',
      name: 'flaky-test-triage',
      source: 'skills',
      path: 'flaky-test-triage',
      uri: 'skill://skills/flaky-test-triage',
    });
    expect(hits[0]?.description).toMatch(/fails only sometimes/);
    expect(typeof hits[0]?.score).toBe('number');
    expect(textOf(r)).toMatch(/^1\. flaky-test-triage \(skills\/flaky-test-triage\)/);
  });

  it('search_skills can ask for spec-valid skills only, or leave out warning codes', async () => {
    const query = 'summarize meeting notes into decisions and action items';
    const all = hitsOf(await call(client, 'search_skills', { query, k: 10 }));
    const ids = (hits: { id: string }[]): string[] => hits.map((h) => h.id);
    const warned = all.find((h) => /meeting/i.test(h.id));
    expect(warned).toBeDefined(); // the example indexed with W_INVALID_NAME
    const strict = hitsOf(await call(client, 'search_skills', { query, k: 10, strict: true }));
    expect(ids(strict)).not.toContain(warned?.id);
    expect(strict.length).toBeGreaterThan(0);
    const excluded = hitsOf(
      await call(client, 'search_skills', { query, k: 10, excludeWarnings: ['W_INVALID_NAME'] }),
    );
    expect(ids(excluded)).not.toContain(warned?.id);
    const folded = hitsOf(await call(client, 'search_skills', { query, k: 10, fold: true }));
    expect(ids(folded)).toContain(warned?.id);
  });

  it('search_skills honours mode, k and the source and path-prefix filters', async () => {
    const fts = hitsOf(await call(client, 'search_skills', { query: 'docker image', mode: 'fts', k: 1 }));
    expect(fts.map((h) => h.id)).toEqual(['skills/docker-image-slimming']);
    const vector = hitsOf(
      await call(client, 'search_skills', { query: 'scanned pdf pages', mode: 'vector' }),
    );
    expect(vector.length).toBe(7); // every live example has a vector; the rejected one is not indexed
    const prefixed = hitsOf(await call(client, 'search_skills', { query: 'review', pathPrefix: 'sql-' }));
    expect(prefixed.map((h) => h.id)).toEqual(['skills/sql-migration-review']);
    const other = await call(client, 'search_skills', { query: 'review', source: ['elsewhere'] });
    expect(hitsOf(other)).toEqual([]);
    expect(textOf(other)).toBe('no matching skills');
  });

  it('get_skill returns front matter, body, sibling files, warnings and provenance', async () => {
    const r = await call(client, 'get_skill', { id: 'skills/pdf-text-extraction' });
    expect(r.isError).toBeFalsy();
    const s = r.structuredContent as Record<string, unknown> & {
      files: { path: string; text: string }[];
      provenance: Record<string, unknown>;
      frontMatter: Record<string, unknown>;
      body: string;
    };
    expect(s.frontMatter).toMatchObject({ name: 'pdf-text-extraction', license: 'Apache-2.0' });
    expect(s.body).toMatch(/^# PDF text extraction/);
    expect(s.body).not.toMatch(/<!-- file:/);
    expect(s.files).toEqual([
      {
        path: 'ocr-fallback.md',
        text: readFileSync(join(examples, 'pdf-text-extraction', 'ocr-fallback.md'), 'utf8'),
      },
    ]);
    expect(s.provenance).toMatchObject({ kind: 'dir', firstSeenRun: 1, contentHash: expect.any(String) });
    expect(String(s.provenance.url)).toMatch(/^file:\/\/.*pdf-text-extraction/);
    expect(textOf(r)).toMatch(/Files: ocr-fallback\.md/);

    const warned = await call(client, 'get_skill', { id: 'skills/meeting-notes-summarizer' });
    expect(
      (warned.structuredContent as { warnings: { code: string }[] }).warnings.map((w) => w.code),
    ).toEqual(['W_INVALID_NAME', 'W_NAME_MISMATCH']);
  });

  it('list_sources lists the examples source', async () => {
    const r = await call(client, 'list_sources');
    expect((r.structuredContent as { sources: unknown[] }).sources).toEqual([
      { id: 'skills', skills: 7, removed: 0, lastIndexedAt: expect.any(String) },
    ]);
    expect(textOf(r)).toBe('skills: 7 skills (0 removed)');
  });

  it('skill://{id} reads a SKILL.md', async () => {
    const { resourceTemplates } = await client.listResourceTemplates();
    expect(resourceTemplates.map((t) => t.uriTemplate)).toEqual(['skill://{+id}']);
    const r = await client.readResource({ uri: 'skill://skills/flaky-test-triage' });
    const content = r.contents[0] as { uri: string; mimeType: string; text: string };
    expect(content.mimeType).toBe('text/markdown');
    expect(content.text).toMatch(/^---\nname: flaky-test-triage\ndescription: Triage a flaky test/);
    expect(content.text).toMatch(/---\n\n# Flaky test triage\n/);
  });

  it('bad input gives MCP errors, never a crash', async () => {
    const unknown = await call(client, 'get_skill', { id: 'skills/no-such-skill' });
    expect(unknown.isError).toBe(true);
    expect(textOf(unknown)).toMatch(/no skill with id "skills\/no-such-skill"/);
    // The malformed example was rejected, so it has no id to get.
    expect((await call(client, 'get_skill', { id: 'skills/broken-front-matter' })).isError).toBe(true);

    const long = await call(client, 'search_skills', { query: 'x'.repeat(2001) });
    expect(long.isError).toBe(true);
    expect(textOf(long)).toMatch(/query must be at most 2000 characters/);
    for (const args of [
      { query: 'pdf', k: 51 },
      { query: 'pdf', k: 0 },
      { query: 'pdf', mode: 'nope' },
      { query: 3 },
      {},
    ]) {
      const r = await call(client, 'search_skills', args);
      expect(r.isError, JSON.stringify(args)).toBe(true);
      expect(textOf(r)).toMatch(/Input validation error/);
    }
    expect((await call(client, 'get_skill', {})).isError).toBe(true);
    expect((await call(client, 'no_such_tool')).isError).toBe(true);

    await expect(client.readResource({ uri: 'skill://skills/nope' })).rejects.toMatchObject({ code: -32002 });
    await expect(client.readResource({ uri: 'skill://skills/%E0%A4%A' })).rejects.toMatchObject({
      code: -32002,
    });

    // Still serving.
    const again = await call(client, 'search_skills', { query: 'changelog', k: 1 });
    expect(hitsOf(again)[0]?.id).toBe('skills/changelog-writing');
  });

  it('answers every search while another process re-indexes the same file, and sees the new run without a restart', async () => {
    const slice = ['anthropics__skills', 'obra__superpowers', 'modelstudioai__skills'].map((s) =>
      join(corpusDir, s),
    );
    const indexer = startRole(tmp.dir, 'reindex', ['index', examples, ...slice, '--db', db]);
    let done = false;
    void indexer.exited.then(() => (done = true));
    let calls = 0;
    const errors: string[] = [];
    const queries = ['why does my test fail only sometimes', 'build an MCP server', 'write a plan', 'pdf'];
    while (!done || calls < 20) {
      const query = queries[calls % queries.length] as string;
      try {
        const r = await call(client, 'search_skills', { query, k: 5 });
        if (r.isError) errors.push(textOf(r));
        const first = hitsOf(r)[0];
        if (first) {
          const g = await call(client, 'get_skill', { id: first.id });
          // A skill may be tombstoned between the search and the get only if its source lost it: not here.
          if (g.isError) errors.push(textOf(g));
        }
        if ((await call(client, 'list_sources')).isError) errors.push('list_sources failed');
      } catch (err) {
        errors.push(String(err));
      }
      calls += 1;
    }
    expect(await indexer.exited, readFileSync(indexer.log, 'utf8')).toBe(0);
    expect(errors).toEqual([]);
    expect(calls).toBeGreaterThanOrEqual(20);

    const sources = (await call(client, 'list_sources')).structuredContent as { sources: { id: string }[] };
    expect(sources.sources.map((s) => s.id)).toEqual([
      'anthropics__skills',
      'modelstudioai__skills',
      'obra__superpowers',
      'skills',
    ]);
    const mcp = hitsOf(
      await call(client, 'search_skills', { query: 'build an MCP server', source: 'anthropics__skills' }),
    );
    expect(mcp[0]?.id).toBe('anthropics__skills/skills/mcp-builder');
  });
});

describe('skillsmith-index mcp on a published snapshot', () => {
  it('reopens the snapshot when publish replaces it', async () => {
    const tmp = tempDir('skillsmith-mcp-snap-');
    try {
      const db = join(tmp.dir, 'live.db');
      const snap = join(tmp.dir, 'snap.db');
      expect(runCli(['index', examples, '--db', db]).status).toBe(0);
      expect(runCli(['publish', '--db', db, '--to', snap]).status).toBe(0);
      const client = await stdioClient(snap);
      try {
        const before = (await call(client, 'list_sources')).structuredContent as {
          sources: { id: string }[];
        };
        expect(before.sources.map((s) => s.id)).toEqual(['skills']);
        expect(runCli(['index', examples, join(corpusDir, 'anthropics__skills'), '--db', db]).status).toBe(0);
        expect(runCli(['publish', '--db', db, '--to', snap]).status).toBe(0);
        const after = (await call(client, 'list_sources')).structuredContent as { sources: { id: string }[] };
        expect(after.sources.map((s) => s.id)).toEqual(['anthropics__skills', 'skills']);
        const hits = hitsOf(await call(client, 'search_skills', { query: 'build an MCP server', k: 1 }));
        expect(hits[0]?.id).toBe('anthropics__skills/skills/mcp-builder');
      } finally {
        await client.close();
      }
    } finally {
      tmp.cleanup();
    }
  });
});

describe('skillsmith-index mcp --http', () => {
  let tmp: ReturnType<typeof tempDir>;
  let db: string;
  const servers: RoleProcess[] = [];
  const token = 'test-token-0123456789abcdef';

  async function startHttp(
    extraEnv: Record<string, string> = {},
  ): Promise<{ url: URL; server: RoleProcess }> {
    const port = await freePort();
    const server = startRole(tmp.dir, `http-${port}`, ['mcp', '--db', db, '--http', String(port)], extraEnv);
    servers.push(server);
    await waitFor('the MCP HTTP server', () =>
      readFileSync(server.log, 'utf8').includes('MCP server listening') ? true : undefined,
    );
    return { url: new URL(`http://127.0.0.1:${port}/mcp`), server };
  }

  async function httpClient(url: URL, headers: Record<string, string> = {}): Promise<Client> {
    const client = new Client({ name: 'skillsmith-test', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(url, { requestInit: { headers } }));
    return client;
  }

  beforeAll(() => {
    tmp = tempDir('skillsmith-mcp-http-');
    db = join(tmp.dir, 'skills.db');
    expect(runCli(['index', examples, '--db', db]).status).toBe(0);
  });

  afterAll(async () => {
    for (const s of servers) {
      s.child.kill('SIGTERM');
      await s.exited;
    }
    tmp?.cleanup();
  });

  it('serves the same tools on loopback without a token', async () => {
    const { url } = await startHttp({ SKILLSMITH_MCP_TOKEN: '' });
    const client = await httpClient(url);
    try {
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name).sort()).toEqual(['get_skill', 'list_sources', 'search_skills']);
      const hits = hitsOf(
        await call(client, 'search_skills', { query: 'find the commit that broke it', k: 1 }),
      );
      expect(hits[0]?.id).toBe('skills/git-bisect-regression');
      const r = await client.readResource({ uri: 'skill://skills/changelog-writing' });
      expect((r.contents[0] as { text: string }).text).toMatch(/^---\nname: changelog-writing/);
      expect((await call(client, 'get_skill', { id: 'nope' })).isError).toBe(true);
    } finally {
      await client.close();
    }
    // A web page reaching loopback through DNS rebinding names another host: refused. (fetch() cannot set
    // Host, node:http can.)
    const status = await new Promise<number | undefined>((resolve, reject) => {
      const req = request(url, {
        method: 'POST',
        headers: {
          host: 'evil.example',
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
        },
      });
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode);
      });
      req.on('error', reject);
      req.end(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }));
    });
    expect(status).toBe(403);
  });

  it('with SKILLSMITH_MCP_TOKEN, answers only requests that carry it, and never logs it', async () => {
    const { url, server } = await startHttp({ SKILLSMITH_MCP_TOKEN: token, LOG_LEVEL: 'debug' });
    await expect(httpClient(url)).rejects.toThrow(/401|Unauthorized|bearer/i);
    await expect(httpClient(url, { authorization: 'Bearer wrong-token-0123456789' })).rejects.toThrow(
      /401|Unauthorized|bearer/i,
    );
    const client = await httpClient(url, { authorization: `Bearer ${token}` });
    try {
      const r = await call(client, 'list_sources');
      expect((r.structuredContent as { sources: { id: string }[] }).sources.map((s) => s.id)).toEqual([
        'skills',
      ]);
    } finally {
      await client.close();
    }
    expect(readFileSync(server.log, 'utf8')).not.toContain(token);
  });

  it('refuses a non-loopback host without a token, and a short token, with one line', () => {
    const open = runCli(['mcp', '--db', db, '--http', '0', '--host', '0.0.0.0'], 60_000, {
      SKILLSMITH_MCP_TOKEN: '',
    });
    expect(open.status).toBe(2);
    expect(open.stderr.trim()).toBe(
      'skillsmith-index: refusing to serve MCP on non-loopback --host 0.0.0.0 without a token: set SKILLSMITH_MCP_TOKEN [E_BAD_OPTION]',
    );
    const short = runCli(['mcp', '--db', db, '--http', '0'], 60_000, { SKILLSMITH_MCP_TOKEN: 'short' });
    expect(short.status).toBe(2);
    expect(short.stderr.trim()).toMatch(
      /^skillsmith-index: SKILLSMITH_MCP_TOKEN must be at least 16 characters/,
    );
    expect(short.stderr).not.toContain('short\n');
    const missing = runCli(['mcp', '--db', join(tmp.dir, 'none.db')], 60_000);
    expect(missing.status).toBe(3); // database/disk (docs/errors.md)
    expect(missing.stderr.trim()).toMatch(
      /^skillsmith-index: index .*none\.db does not exist \[E_DATABASE\]$/,
    );
  });
});
