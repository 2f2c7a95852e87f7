#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { IndexerError } from '../shared/errors.js';
import { EXIT, exitStatusOf } from '../shared/exit-status.js';
import { storageError } from '../shared/storage-error.js';
import { createLogger } from '../shared/logger.js';
import { redactUrl } from '../shared/redact.js';
import { printJson } from './options.js';
import { registerIndexCommand } from './index-command.js';
import { registerSearchCommand } from './search-command.js';
import { registerPublishCommand } from './publish-command.js';
import { registerStatusCommand } from './status-command.js';
import { registerProduceCommand } from './produce-command.js';
import { registerWorkCommand, registerWriteCommand } from './role-commands.js';
import { registerDashboardCommand } from './dashboard-command.js';
import { registerScheduleCommand } from './schedule-command.js';
import { registerBackfillCommand } from './backfill-command.js';
import { registerFailedCommand } from './failed-command.js';
import { registerMcpCommand } from './mcp-command.js';

const log = createLogger();
const program = new Command('skillsmith-index')
  .description('Skillsmith indexer: crawl agent skills, embed them, write one SQLite file readers can query')
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride();

registerIndexCommand(program, log);
registerSearchCommand(program);
registerPublishCommand(program);
registerStatusCommand(program);
registerProduceCommand(program, log);
registerWorkCommand(program, log);
registerWriteCommand(program, log);
registerScheduleCommand(program, log);
registerBackfillCommand(program, log);
registerFailedCommand(program);
registerDashboardCommand(program, log);
registerMcpCommand(program, log);

try {
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
  log.error({ err }, 'unexpected failure');
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
