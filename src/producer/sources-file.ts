import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ERROR_CODES, IndexerError } from '../shared/errors.js';
import { SourceKindSchema, unhandledKind } from '../shared/source-kinds.js';
import type { SourceSpec } from './source.js';

const ID = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** One entry of the sources file. */
const SourceEntry = z.strictObject({
  id: z.string().regex(ID, 'must be letters, digits, ".", "_" or "-" (and start with a letter or digit)'),
  kind: SourceKindSchema,
  location: z.string().min(1, 'must not be empty'),
  ref: z.string().min(1).optional(),
  include: z.array(z.string().min(1)).optional(),
  exclude: z.array(z.string().min(1)).optional(),
  trust: z.string().min(1).max(64).optional(),
  submodules: z.boolean().optional(),
  apiUrl: z.url().optional(),
});

/** `skillsmith.sources.yaml` (or `.json`): `{ sources: [...] }`; a bare list is accepted and wrapped first. */
const SourcesFile = z.strictObject({ sources: z.array(SourceEntry) });

/**
 * Reads and validates a sources file. Any problem fails at start with the file, the entry and the field named
 * (`skillsmith.sources.yaml: sources[2] (id "docs") kind: Invalid option: expected one of "dir"|"git"|"github"`),
 * so a typo never becomes a half-run. Relative `dir` locations are taken relative to the file.
 */
export function loadSourcesFile(file: string): SourceSpec[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (cause) {
    throw new IndexerError(
      ERROR_CODES.BAD_OPTION,
      `--sources ${file}: cannot read it (${(cause as Error).message})`,
      {
        cause,
      },
    );
  }
  let data: unknown;
  try {
    data = file.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (cause) {
    throw new IndexerError(
      ERROR_CODES.BAD_OPTION,
      `${file}: not valid ${file.endsWith('.json') ? 'JSON' : 'YAML'}: ${(cause as Error).message.split('\n')[0]}`,
      { cause },
    );
  }
  if (Array.isArray(data)) data = { sources: data };
  const result = SourcesFile.safeParse(data);
  if (!result.success) {
    const issue = result.error.issues[0];
    const path = issue?.path ?? [];
    const entries = (data as { sources?: unknown[] } | null)?.sources;
    const index = path.find((p) => typeof p === 'number') as number | undefined;
    const entryId =
      index !== undefined && Array.isArray(entries)
        ? (entries[index] as { id?: unknown } | undefined)?.id
        : undefined;
    const where =
      index !== undefined
        ? `sources[${index}]${typeof entryId === 'string' ? ` (id "${entryId}")` : ''} ${path.slice(path.indexOf(index) + 1).join('.') || ''}`.trim()
        : path.join('.') || '(top level)';
    throw new IndexerError(ERROR_CODES.BAD_OPTION, `${file}: ${where}: ${issue?.message ?? 'invalid'}`);
  }
  const list = result.data.sources;
  const seen = new Set<string>();
  for (const [i, s] of list.entries()) {
    if (seen.has(s.id))
      throw new IndexerError(ERROR_CODES.BAD_OPTION, `${file}: sources[${i}] id: "${s.id}" is used twice`);
    seen.add(s.id);
  }
  const base = dirname(resolve(file));
  return list.map((s) => relativeToFile(s, base));
}

/** A path location is taken relative to the sources file's folder; a URL is left as it is. */
function relativeToFile(s: SourceSpec, base: string): SourceSpec {
  switch (s.kind) {
    case 'dir':
      return { ...s, location: resolve(base, s.location) };
    case 'git':
    case 'github':
      return s;
    default:
      return unhandledKind(s.kind);
  }
}
