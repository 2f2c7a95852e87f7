import { ERROR_CODES, IndexerError } from '../shared/errors.js';

/**
 * Why a GitHub request failed: `status` (GitHub answered with an HTTP error, see `status`), `network` (no answer
 * after the retries), `rate-limit` (the wait budget ran out, or the crawl was aborted while waiting),
 * `response` (an answer that does not look like GitHub's), `content` (the source's own checks, e.g. a missing
 * sub-folder).
 */
export type GitHubFailure = 'status' | 'network' | 'rate-limit' | 'response' | 'content';

/** `SOURCE_FAILED` from the GitHub source, with why, and the HTTP status when there was one. */
export class GitHubSourceError extends IndexerError {
  readonly failure: GitHubFailure;
  readonly status: number | undefined;

  constructor(message: string, failure: GitHubFailure, status?: number) {
    super(ERROR_CODES.SOURCE_FAILED, message);
    this.name = 'GitHubSourceError';
    this.failure = failure;
    this.status = status;
  }
}
