import type { Command } from 'commander';
import { openIndex } from '../reader/open-index.js';
import type { CheckedSearchOptions } from '../reader/search-options.js';
import { SkillIndexImpl } from '../reader/skill-index.js';
import type { SearchMode, SearchResult, SkillIndex } from '../reader/types.js';
import { ERROR_CODES, IndexerError } from '../shared/errors.js';
import { intFlag, printJson } from './options.js';

const MODES: readonly SearchMode[] = ['hybrid', 'fts', 'vector'];

interface SearchFlags {
  db: string;
  k: number;
  mode: SearchMode;
  model?: string;
  source?: string[];
  pathPrefix?: string;
  license?: string;
  strict?: boolean;
  fold?: boolean;
  excludeWarning?: string[];
  json?: boolean;
}

function modeFlag(value: string): SearchMode {
  if (!(MODES as readonly string[]).includes(value)) {
    throw new IndexerError(
      ERROR_CODES.BAD_OPTION,
      `--mode must be one of ${MODES.join(', ')} (got ${value})`,
    );
  }
  return value as SearchMode;
}

/** A flag's value, refused when empty (as the reader's own option check would). */
const nonEmpty =
  (flag: string) =>
  (value: string): string => {
    if (value === '') throw new IndexerError(ERROR_CODES.BAD_OPTION, `--${flag} must not be empty`);
    return value;
  };

/** A repeatable flag's values, none empty. */
const collectFor =
  (flag: string) =>
  (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), nonEmpty(flag)(value)];

/**
 * Runs the search with options commander has already checked (each flag's parser above), so the one-shot CLI
 * skips the reader's zod check and never loads zod (~80 ms of CPU). Another SkillIndex goes through `search`.
 */
function runSearch(index: SkillIndex, query: string, options: CheckedSearchOptions): Promise<SearchResult[]> {
  return index instanceof SkillIndexImpl ? index.searchChecked(query, options) : index.search(query, options);
}

/** `skillsmith-index search <query>`: queries an index file read-only (safe while an index run writes it). */
export function registerSearchCommand(program: Command): void {
  program
    .command('search')
    .argument('<query>', 'what to look for, in plain words')
    .option('--db <path>', 'SQLite index to read', 'skills.db')
    .option('--k <n>', 'number of results', intFlag('k', 1), 10)
    .option('--mode <mode>', `ranking: ${MODES.join(' | ')}`, modeFlag, 'hybrid')
    .option(
      '--model <dir|name>',
      "model folder or built-in model name to embed the query (default: the built-in model that made the index's vectors)",
    )
    .option('--source <id>', 'only skills of this source (repeatable)', collectFor('source'))
    .option('--path-prefix <prefix>', 'only skills whose path starts with this')
    .option('--license <license>', 'only skills with this license', nonEmpty('license'))
    .option('--strict', 'only spec-valid skills (no warning, nothing recovered)')
    .option('--fold', 'one result per group of near-identical copies (translations, forks)')
    .option(
      '--exclude-warning <code>',
      'leave out skills with this warning code (repeatable)',
      collectFor('exclude-warning'),
    )
    .option('--json', 'print the results as one JSON object on stdout')
    .action(async (query: string, flags: SearchFlags) => {
      if (flags.k > 1000)
        throw new IndexerError(ERROR_CODES.BAD_OPTION, `--k must be ≤ 1000 (got ${flags.k})`);
      const index = await openIndex(flags.db, flags.model === undefined ? undefined : { model: flags.model });
      try {
        const filters = {
          ...(flags.source && { sourceId: flags.source }),
          ...(flags.pathPrefix !== undefined && { pathPrefix: flags.pathPrefix }),
          ...(flags.license !== undefined && { license: flags.license }),
          ...(flags.strict && { strict: true }),
          ...(flags.excludeWarning && { excludeWarnings: flags.excludeWarning }),
        };
        const results = await runSearch(index, query, {
          k: flags.k,
          mode: flags.mode,
          filters,
          fold: flags.fold ?? false,
        });
        if (flags.json) {
          printJson({
            results: results.map((r) => ({
              id: r.id,
              name: r.name,
              path: r.path,
              source: r.source,
              score: r.score,
              description: r.description,
              warnings: r.warnings,
            })),
            mode: flags.mode,
            k: flags.k,
            model: index.model ?? null,
          });
        } else {
          printHuman(results, flags.mode);
        }
      } finally {
        await index.close();
      }
    });
}

/** Whitespace (newlines in a description, say) collapsed to single spaces. */
const flat = (text: string): string => text.replace(/\s+/g, ' ').trim();

/** Cut to `width` characters with an ellipsis. */
const clip = (text: string, width: number): string =>
  text.length <= width ? text : `${text.slice(0, Math.max(1, width - 1))}…`;

function printHuman(results: SearchResult[], mode: SearchMode): void {
  if (results.length === 0) {
    process.stderr.write(`no results (${mode})\n`);
    return;
  }
  const width = Math.max(40, (process.stdout.isTTY ? process.stdout.columns : undefined) ?? 100);
  const pad = String(results.length).length;
  const indent = ' '.repeat(pad + 2);
  const scoreText = (s: number): string => (mode === 'hybrid' ? s.toFixed(4) : s.toFixed(3));
  const lines = results.flatMap((r, i) => [
    // Score before the location: when the line is cut to the terminal width, only the path's tail is lost.
    clip(
      `${String(i + 1).padStart(pad)}. ${flat(r.name)}  ${scoreText(r.score)}  ${r.source}  ${r.path}`,
      width,
    ),
    indent + clip(flat(r.description), width - indent.length),
  ]);
  process.stdout.write(`${lines.join('\n')}\n`);
}
