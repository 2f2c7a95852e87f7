/**
 * Every command of `skillsmith-index`: its name, what `--help` lists for it, and how to load it. A command's
 * module (and through it BullMQ, express, octokit, onnxruntime…) is imported only when that command runs or
 * shows its own help, so `--help` and a one-shot `search` start in a fraction of the time a full load takes.
 */
import type { Command } from 'commander';
import type { Logger } from 'pino';

export interface CommandEntry {
  name: string;
  /** Arguments as the top-level help lists them. */
  args: string;
  /** One line for the top-level help and the command's own help. */
  description: string;
  /** Whether `register` needs the process logger (pino is not loaded for the commands that do not). */
  logs: boolean;
  /** Imports the command's module and defines the command (options, help, action) on `program`. */
  register(program: Command, log: Logger): Promise<void>;
}

export const COMMANDS: readonly CommandEntry[] = [
  {
    name: 'index',
    args: '[source...]',
    description:
      'crawl skill folders, embed them on a worker pool and write one SQLite file (no Redis needed)',
    logs: true,
    register: async (p, log) => (await import('./index-command.js')).registerIndexCommand(p, log),
  },
  {
    name: 'search',
    args: '<query>',
    description: 'search an index: full-text (BM25), vector (cosine) or both fused (default)',
    logs: false,
    register: async (p) => (await import('./search-command.js')).registerSearchCommand(p),
  },
  {
    name: 'publish',
    args: '',
    description:
      'write a consistent snapshot of the database to FILE atomically, with FILE.manifest.json beside it',
    logs: false,
    register: async (p) => (await import('./publish-command.js')).registerPublishCommand(p),
  },
  {
    name: 'status',
    args: '',
    description:
      'show the index (models, sources, last runs, rejections) and, with --redis, queues and live runs',
    logs: false,
    register: async (p) => (await import('./status-command.js')).registerStatusCommand(p),
  },
  {
    name: 'produce',
    args: '[source...]',
    description:
      'distributed mode: crawl sources and enqueue embed batches (or --serve schedules and backfills)',
    logs: true,
    register: async (p, log) => (await import('./produce-command.js')).registerProduceCommand(p, log),
  },
  {
    name: 'work',
    args: '',
    description: 'distributed mode: embed batches from the queue on a local worker-thread pool',
    logs: true,
    register: async (p, log) => (await import('./role-commands.js')).registerWorkCommand(p, log),
  },
  {
    name: 'write',
    args: '',
    description: 'distributed mode: the single writer — consumes embedded batches and writes the SQLite file',
    logs: true,
    register: async (p, log) => (await import('./role-commands.js')).registerWriteCommand(p, log),
  },
  {
    name: 'schedule',
    args: '',
    description: 'distributed mode: recurring re-index runs (served by `produce --serve`)',
    logs: true,
    register: async (p, log) => (await import('./schedule-command.js')).registerScheduleCommand(p, log),
  },
  {
    name: 'backfill',
    args: '[source...]',
    description:
      'distributed mode: queue a (re-)index run of sources, refused if one is already queued or running',
    logs: true,
    register: async (p, log) => (await import('./backfill-command.js')).registerBackfillCommand(p, log),
  },
  {
    name: 'failed',
    args: '',
    description: 'distributed mode: list, retry or drop jobs that exhausted their retries (dead letters)',
    logs: false,
    register: async (p) => (await import('./failed-command.js')).registerFailedCommand(p),
  },
  {
    name: 'dashboard',
    args: '',
    description: 'serve a web dashboard (bull-board) of the distributed queues: inspect, retry, promote jobs',
    logs: true,
    register: async (p, log) => (await import('./dashboard-command.js')).registerDashboardCommand(p, log),
  },
  {
    name: 'mcp',
    args: '',
    description: 'serve an index to agents over the Model Context Protocol (stdio, or HTTP with --http)',
    logs: true,
    register: async (p, log) => (await import('./mcp-command.js')).registerMcpCommand(p, log),
  },
];

/** The command the arguments (after `node main.js`) ask for: `search …`, or `help search`; else undefined. */
export function requestedCommand(args: readonly string[]): CommandEntry | undefined {
  const first = args.findIndex((a) => !a.startsWith('-'));
  const name = args[first] === 'help' ? args[first + 1] : args[first];
  return COMMANDS.find((c) => c.name === name);
}
