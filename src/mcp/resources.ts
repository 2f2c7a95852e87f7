import { ResourceTemplate, type McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import type { LiveIndex } from './live-index.js';
import { idFromUriVariable, skillMarkdown } from './skill-files.js';

/** JSON-RPC code the MCP specification gives "resource not found". */
const RESOURCE_NOT_FOUND = -32002;

/**
 * `skill://{+id}`: a skill's SKILL.md. `+` because ids hold slashes (`<source>/<path>`). Not listed (an index
 * may hold thousands of skills): agents find links through search_skills.
 */
export function registerResources(server: McpServer, live: LiveIndex): void {
  server.registerResource(
    'skill',
    new ResourceTemplate('skill://{+id}', { list: undefined }),
    {
      title: 'Skill',
      description: "A skill's SKILL.md: its front matter and body, as the index stored them",
      mimeType: 'text/markdown',
    },
    async (uri, variables) => {
      const raw = variables.id;
      const id = typeof raw === 'string' ? idFromUriVariable(raw) : undefined;
      if (id === undefined) throw new McpError(RESOURCE_NOT_FOUND, `bad skill link ${uri.href}`);
      const skill = await live.use((index) => index.getSkill(id));
      if (!skill) throw new McpError(RESOURCE_NOT_FOUND, `no skill with id ${JSON.stringify(id)}`);
      return { contents: [{ uri: uri.href, mimeType: 'text/markdown', text: skillMarkdown(skill) }] };
    },
  );
}
