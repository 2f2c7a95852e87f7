import { basename, resolve } from 'node:path';
import { ERROR_CODES, IndexerError } from '../shared/errors.js';
import { unhandledKind, type SourceKind } from '../shared/source-kinds.js';
import type { SourceSpec } from './source.js';

/** Makes any text usable as a source id (letters, digits, `._-`). */
export function toSourceId(text: string): string {
  return text.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[-.]+|-+$/g, '') || 'root';
}

/** A folder source's id: its base name, made safe for ids. One rule for the CLI and the library alike. */
export function dirSourceId(root: string): string {
  return toSourceId(basename(resolve(root)));
}

/**
 * Reads a source given on the command line:
 * - `github:owner/repo[/path][@ref]`, `github:owner`, `github-search:<query>` → GitHub (id `owner__repo`, `owner`);
 * - `git+https://…`, `git@host:…`, `ssh://…`, `git://…`, `file://…`, `https://….git` → git (id = repo name);
 * - anything else is a folder (id = its base name). A folder that is a git checkout is indexed as it is on disk;
 *   use `file://` (or a sources file entry with `kind: git`) to index its committed tree instead.
 */
export function parseSourceArg(arg: string): SourceSpec {
  const kind = kindOfArg(arg);
  switch (kind) {
    case 'github': {
      const rest = arg.slice(arg.indexOf(':') + 1);
      if (rest.trim() === '')
        throw new IndexerError(ERROR_CODES.BAD_OPTION, `source "${arg}": nothing after the colon`);
      if (arg.startsWith('github-search:'))
        return { id: toSourceId(`search-${rest}`).slice(0, 64), kind, location: arg };
      const [owner, repo] = rest.split('@')[0]!.split('/');
      return { id: toSourceId(repo ? `${owner}__${repo}` : (owner ?? rest)), kind, location: arg };
    }
    case 'git': {
      const name = basename(
        arg
          .replace(/\/+$/, '')
          .replace(/\.git$/, '')
          .replace(/^.*[:/]/, '/'),
      );
      return { id: toSourceId(name), kind, location: arg };
    }
    case 'dir':
      return { id: dirSourceId(arg), kind, location: resolve(arg) };
    default:
      return unhandledKind(kind);
  }
}

/** The kind a command-line source names, by its prefix (see {@link parseSourceArg}). */
function kindOfArg(arg: string): SourceKind {
  if (arg.startsWith('github:') || arg.startsWith('github-search:')) return 'github';
  if (/^(git\+|git@|ssh:\/\/|git:\/\/|file:\/\/)/.test(arg) || /^https?:\/\/.+\.git\/?$/.test(arg))
    return 'git';
  return 'dir';
}
