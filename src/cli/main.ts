#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import type { Logger } from 'pino';
import { IndexerError } from '../shared/errors.js';
import { EXIT, exitStatusOf } from '../shared/exit-status.js';
import { storageError } from '../shared/storage-error.js';
import { redactUrl } from '../shared/redact.js';
import { COMMANDS, requestedCommand } from './command-list.js';
import { printJson } from './options.js';

let log: Logger | undefined;
const logger = async (): Promise<Logger> => (log ??= (await import('../shared/logger.js')).createLogger());

const program = new Command('skillsmith-index')
  .description('Skillsmith indexer: crawl agent skills, embed them, write one SQLite file readers can query')
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride();

try {
  // Only the command asked for is loaded; the others are listed by name for the top-level help.
  const wanted = requestedCommand(process.argv.slice(2));
  for (const entry of COMMANDS) {
    if (entry === wanted) {
      await entry.register(program, entry.logs ? await logger() : (undefined as unknown as Logger));
    } else {
      program.command(`${entry.name} ${entry.args}`.trim());
    }
    program.commands.at(-1)?.description(entry.description);
  }
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // Commander already printed its one-line message (or the help) to stderr. Help and --version exit 0;
    // a usage error is bad input like any other.
    process.exit(err.exitCode === 0 ? EXIT.OK : EXIT.BAD_INPUT);
  }
  // `--json` promises one JSON object on stdout: a failure is one too, so a script never parses nothing.
  const json = process.argv.includes('--json');
  const known = err instanceof IndexerError ? err : storageError(err, databaseOf(program) ?? 'the database');
  if (known) {
    process.stderr.write(`skillsmith-index: ${known.message} [${known.code}]\n`);
    if (json) printJson({ error: { code: known.code, message: known.message } });
    process.exit(exitStatusOf(known.code));
  }
  (await logger()).error({ err }, 'unexpected failure');
  if (json)
    printJson({
      error: { code: 'E_UNEXPECTED', message: redactUrl(String((err as Error)?.message ?? err)) },
    });
  process.exit(EXIT.UNEXPECTED);
}

/** The `--db` of the command that ran, to name the file in a storage error. */
function databaseOf(root: Command): string | undefined {
  const ran = root.commands.find((c) => c.name() === process.argv[2]);
  const db = ran?.opts<{ db?: unknown }>().db;
  return typeof db === 'string' ? db : undefined;
}
