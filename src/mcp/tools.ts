import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { MAX_QUERY_CHARS, type SearchFilters, type SearchResult } from '../reader/index.js';
import { IndexerError } from '../shared/errors.js';
import type { LiveIndex } from './live-index.js';
import { splitBody, skillUri } from './skill-files.js';

/** Most results one call returns: enough to choose from, small enough for an agent's context. */
export const MAX_K = 50;

const oneOrMany = z.union([z.string().min(1).max(200), z.array(z.string().min(1).max(200)).min(1).max(50)]);

const searchInput = {
  // The reader's own cap, in the schema: an agent sees it in the tool listing, and the SDK rejects before any work.
  query: z
    .string()
    .min(1)
    .max(MAX_QUERY_CHARS, `query must be at most ${MAX_QUERY_CHARS} characters`)
    .describe('What the skill should do, in plain words (e.g. "extract text from a scanned PDF")'),
  k: z.number().int().min(1).max(MAX_K).default(10).describe(`Results wanted, 1–${MAX_K}`),
  mode: z
    .enum(['hybrid', 'fts', 'vector'])
    .default('hybrid')
    .describe('hybrid (default): full-text and embeddings fused; fts: BM25 only; vector: cosine only'),
  source: oneOrMany
    .optional()
    .describe('Only skills of this source id (or any of these), as list_sources names them'),
  pathPrefix: z
    .string()
    .max(1000)
    .optional()
    .describe('Only skills whose path in their source starts with this'),
  strict: z
    .boolean()
    .optional()
    .describe('Only spec-valid skills: no warning, nothing recovered from broken front matter'),
  excludeWarnings: z
    .array(z.string().regex(/^W_[A-Z_]+$/))
    .max(50)
    .optional()
    .describe('Leave out skills carrying any of these warning codes, e.g. ["W_RECOVERED_NO_FRONT_MATTER"]'),
  fold: z
    .boolean()
    .optional()
    .describe('One result per group of near-identical copies (translations, copied folders)'),
};

const searchHit = z.object({
  id: z.string(),
  name: z.string(),
  description: z.string(),
  path: z.string(),
  source: z.string(),
  score: z.number(),
  uri: z.string(),
});

const getInput = {
  id: z.string().min(1).max(2000).describe('Skill id as search_skills returns it: "<source>/<path>"'),
};

/** A tool's failure as MCP wants it: a result with isError the agent can read, never a protocol crash. */
function toolError(message: string): CallToolResult {
  return { isError: true, content: [{ type: 'text', text: message }] };
}

/** Known failures keep their stable code; anything else is reported by message, and the server goes on. */
function failure(err: unknown): CallToolResult {
  if (err instanceof IndexerError) return toolError(`${err.message} [${err.code}]`);
  return toolError(`unexpected error: ${(err as Error)?.message ?? String(err)}`);
}

const oneLine = (text: string): string => text.replace(/\s+/g, ' ').trim();

function renderHits(hits: SearchResult[]): string {
  if (hits.length === 0) return 'no matching skills';
  return hits
    .map((h, i) => `${i + 1}. ${oneLine(h.name)} (${h.id}) — ${oneLine(h.description).slice(0, 200)}`)
    .join('\n');
}

/** search_skills, get_skill and list_sources, all read-only. */
export function registerTools(server: McpServer, live: LiveIndex): void {
  server.registerTool(
    'search_skills',
    {
      title: 'Search skills',
      description:
        'Find agent skills (SKILL.md folders) for a task. Returns the best matches with id, name, description, ' +
        'source, path, score and a skill:// link; read one in full with get_skill or the link.',
      inputSchema: searchInput,
      outputSchema: { results: z.array(searchHit), mode: z.string(), k: z.number() },
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    async ({ query, k, mode, source, pathPrefix, strict, excludeWarnings, fold }) => {
      try {
        const filters: SearchFilters = {
          ...(source !== undefined && { sourceId: source }),
          ...(pathPrefix !== undefined && { pathPrefix }),
          ...(strict !== undefined && { strict }),
          ...(excludeWarnings !== undefined && excludeWarnings.length > 0 && { excludeWarnings }),
        };
        const hits = await live.use((index) =>
          index.search(query, { k, mode, filters, ...(fold !== undefined && { fold }) }),
        );
        const results = hits.map((h) => ({
          id: h.id,
          name: h.name,
          description: h.description,
          path: h.path,
          source: h.source,
          score: h.score,
          uri: skillUri(h.id),
        }));
        return {
          structuredContent: { results, mode, k },
          content: [{ type: 'text', text: renderHits(hits) }],
        };
      } catch (err) {
        return failure(err);
      }
    },
  );

  server.registerTool(
    'get_skill',
    {
      title: 'Get a skill',
      description:
        'One skill in full by id: front matter, SKILL.md body, sibling .md files, warnings and where it came from.',
      inputSchema: getInput,
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    async ({ id }) => {
      try {
        const skill = await live.use((index) => index.getSkill(id));
        if (!skill) return toolError(`no skill with id ${JSON.stringify(id)} (ids come from search_skills)`);
        const { main, siblings } = splitBody(skill.body);
        const structured = {
          id: skill.id,
          uri: skillUri(skill.id),
          name: skill.name,
          description: skill.description,
          source: skill.sourceId,
          path: skill.path,
          frontMatter: skill.frontMatter,
          body: main,
          files: siblings,
          warnings: skill.warnings,
          provenance: {
            ...skill.provenance,
            contentHash: skill.contentHash,
            firstSeenRun: skill.firstSeenRun,
            lastSeenRun: skill.lastSeenRun,
            indexedAt: skill.indexedAt,
          },
        };
        const fileList = siblings.length > 0 ? `\nFiles: ${siblings.map((f) => f.path).join(', ')}` : '';
        const text = `# ${skill.name} (${skill.id})\n${skill.description}${fileList}\n\n${main}`;
        return { structuredContent: structured, content: [{ type: 'text', text }] };
      } catch (err) {
        return failure(err);
      }
    },
  );

  server.registerTool(
    'list_sources',
    {
      title: 'List sources',
      description:
        'Every skill source in the index with its live and removed skill counts and last index time.',
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    async () => {
      try {
        const sources = await live.use((index) => index.listSources());
        const text =
          sources.length === 0
            ? 'the index has no sources yet'
            : sources.map((s) => `${s.id}: ${s.skills} skills (${s.removed} removed)`).join('\n');
        return { structuredContent: { sources }, content: [{ type: 'text', text }] };
      } catch (err) {
        return failure(err);
      }
    },
  );
}
