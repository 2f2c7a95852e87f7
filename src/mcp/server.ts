import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { LiveIndex } from './live-index.js';
import { registerResources } from './resources.js';
import { registerTools } from './tools.js';

const VERSION = '0.1.0';

/** One MCP server over the index: tools and the skill:// resource. Cheap: HTTP makes one per request. */
export function createMcpServer(live: LiveIndex): McpServer {
  const server = new McpServer(
    { name: 'skillsmith-index', version: VERSION },
    {
      instructions:
        'Search an index of agent skills (SKILL.md folders). Call search_skills with the task in plain words, ' +
        'then get_skill (or read the skill:// link) for the one that fits.',
    },
  );
  registerTools(server, live);
  registerResources(server, live);
  return server;
}
