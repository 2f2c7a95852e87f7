import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import type { Command } from 'commander';
import type { Logger } from 'pino';
import { serveHttp } from '../mcp/http-transport.js';
import { LiveIndex } from '../mcp/live-index.js';
import { createMcpServer } from '../mcp/server.js';
import { ERROR_CODES, IndexerError } from '../shared/errors.js';
import { intFlag } from './options.js';
import { onShutdown } from './shutdown.js';

interface McpFlags {
  db: string;
  model?: string;
  http?: number;
  host: string;
}

/** Resolves on SIGINT/SIGTERM, or when `also` fires (stdin closed by the client). */
function untilStopped(log: Logger, also?: (stop: () => void) => void): Promise<void> {
  return new Promise<void>((resolve) => {
    const dispose = onShutdown(log, () => {
      dispose();
      resolve();
    });
    also?.(() => {
      dispose();
      resolve();
    });
  });
}

/** `skillsmith-index mcp`: an MCP server over an index file, read-only, on stdio or streamable HTTP. */
export function registerMcpCommand(program: Command, log: Logger): void {
  program
    .command('mcp')
    .option('--db <path>', 'SQLite index (or published snapshot) to read', 'skills.db')
    .option(
      '--model <dir>',
      "model folder to embed queries (default: built-in, if it made the index's vectors)",
    )
    .option('--http <port>', 'serve streamable HTTP on this port instead of stdio', intFlag('http', 0))
    .option('--host <host>', 'interface for --http (non-loopback needs SKILLSMITH_MCP_TOKEN)', '127.0.0.1')
    .addHelpText(
      'after',
      `
Tools: search_skills, get_skill, list_sources. Resource: skill://<id> (a skill's SKILL.md).
Read-only: never takes the writer lock; new index runs are seen without a restart, and a snapshot
replaced by \`publish\` is reopened. With --http, requests must carry "Authorization: Bearer $SKILLSMITH_MCP_TOKEN"
when that variable is set (at least 16 characters); without it only a loopback --host is allowed.

Examples:
  skillsmith-index mcp --db skills.db
  SKILLSMITH_MCP_TOKEN=$(openssl rand -hex 24) skillsmith-index mcp --db skills.db --http 8765 --host 0.0.0.0`,
    )
    .action(async (flags: McpFlags) => {
      if (flags.http !== undefined && flags.http > 65535) {
        throw new IndexerError(ERROR_CODES.BAD_OPTION, `--http must be a port ≤ 65535 (got ${flags.http})`);
      }
      const token = process.env.SKILLSMITH_MCP_TOKEN || undefined;
      const live = await LiveIndex.open(flags.db, flags.model === undefined ? {} : { model: flags.model });
      try {
        if (flags.http !== undefined) {
          const http = await serveHttp(live, { port: flags.http, host: flags.host, token, log });
          log.info({ url: http.url, db: flags.db, auth: token ? 'bearer' : 'none' }, 'MCP server listening');
          await untilStopped(log);
          await http.close();
        } else {
          // stdout carries the protocol: everything else (logs) goes to stderr.
          const server = createMcpServer(live);
          const transport = new StdioServerTransport();
          await server.connect(transport);
          log.info({ db: flags.db }, 'MCP server on stdio');
          await untilStopped(log, (stop) => process.stdin.once('close', stop).once('end', stop));
          await server.close();
        }
      } finally {
        await live.close();
      }
    });
}
