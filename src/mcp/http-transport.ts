import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { Logger } from 'pino';
import { isLoopbackHost, sameSecret } from '../dashboard/dashboard-server.js';
import { ERROR_CODES, IndexerError } from '../shared/errors.js';
import type { LiveIndex } from './live-index.js';
import { createMcpServer } from './server.js';

/** Where the MCP endpoint lives on the HTTP server. */
export const MCP_PATH = '/mcp';
/** Shortest bearer token accepted: a short one could be guessed over the network. */
export const MIN_TOKEN_CHARS = 16;

export interface HttpOptions {
  port: number;
  host: string;
  /** Bearer token every request must carry; undefined serves without one (loopback only). */
  token: string | undefined;
  log: Logger;
}

/**
 * Checks the host/token pair before anything binds: a token that is too short, or a non-loopback host without
 * one, is refused with a one-line message.
 */
export function checkHttpOptions(host: string, token: string | undefined): void {
  if (token !== undefined && token.length < MIN_TOKEN_CHARS) {
    throw new IndexerError(
      ERROR_CODES.BAD_OPTION,
      `SKILLSMITH_MCP_TOKEN must be at least ${MIN_TOKEN_CHARS} characters (e.g. openssl rand -hex 24)`,
    );
  }
  if (token === undefined && !isLoopbackHost(host)) {
    throw new IndexerError(
      ERROR_CODES.BAD_OPTION,
      `refusing to serve MCP on non-loopback --host ${host} without a token: set SKILLSMITH_MCP_TOKEN`,
    );
  }
}

function reply(
  res: ServerResponse,
  status: number,
  message: string,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32000, message }, id: null }));
}

function authorized(req: IncomingMessage, token: string): boolean {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
  return match !== null && sameSecret(match[1] as string, token);
}

/**
 * The streamable HTTP transport, stateless: every POST to /mcp gets its own MCP server and transport (both
 * cheap: they only register handlers) over the one shared index, so no session state can leak or pile up.
 * Bound to loopback, requests must also name a loopback Host (a web page cannot reach it by DNS rebinding).
 */
export async function serveHttp(
  live: LiveIndex,
  opts: HttpOptions,
): Promise<{ url: string; close: () => Promise<void> }> {
  checkHttpOptions(opts.host, opts.token);
  const loopback = isLoopbackHost(opts.host);
  let port = opts.port;

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (path !== MCP_PATH) return reply(res, 404, `not found: the MCP endpoint is ${MCP_PATH}`);
    if (opts.token !== undefined && !authorized(req, opts.token)) {
      return reply(res, 401, 'missing or wrong bearer token', { 'www-authenticate': 'Bearer' });
    }
    if (req.method !== 'POST')
      return reply(res, 405, 'this server is stateless: POST only', { allow: 'POST' });
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: undefined,
      enableJsonResponse: true,
      ...(loopback && {
        enableDnsRebindingProtection: true,
        allowedHosts: [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`],
      }),
    });
    const server = createMcpServer(live);
    res.on('close', () => {
      void transport.close();
      void server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(req, res);
  };

  const http: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      opts.log.error({ err }, 'MCP HTTP request failed');
      if (!res.headersSent) reply(res, 500, 'internal error');
      else res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    http.once('error', (err) =>
      reject(
        new IndexerError(
          ERROR_CODES.BAD_OPTION,
          `cannot listen on ${opts.host}:${opts.port}: ${err.message}`,
        ),
      ),
    );
    http.listen(opts.port, opts.host, resolve);
  });
  port = (http.address() as AddressInfo).port;
  const shownHost = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  return {
    url: `http://${shownHost}:${port}${MCP_PATH}`,
    close: () =>
      new Promise<void>((resolve) => {
        http.close(() => resolve());
        http.closeAllConnections();
      }),
  };
}
