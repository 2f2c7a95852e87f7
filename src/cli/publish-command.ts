import type { Command } from 'commander';
import { publishSnapshot } from '../writer/publish-snapshot.js';
import { printJson } from './options.js';

/** `skillsmith-index publish --db PATH --to FILE`: an atomic, consistent snapshot with a manifest. */
export function registerPublishCommand(program: Command): void {
  program
    .command('publish')
    .option('--db <path>', 'live database to copy', 'skills.db')
    .requiredOption('--to <file>', 'snapshot file to write (replaced atomically)')
    .option('--json', 'print the manifest as one JSON object on stdout')
    .action(async (flags: { db: string; to: string; json?: boolean }) => {
      const manifest = await publishSnapshot({ db: flags.db, to: flags.to });
      if (flags.json) printJson(manifest);
      else {
        process.stderr.write(
          `published ${flags.to} (${(manifest.bytes / 1e6).toFixed(1)} MB, ${manifest.counts.skills} skills, ` +
            `schema v${manifest.schemaVersion}, sha256 ${manifest.sha256.slice(0, 12)}…) and ${flags.to}.manifest.json\n`,
        );
      }
    });
}
