import { ERROR_CODES, isErrorCode, type ErrorCode } from '../shared/errors.js';
import { EXIT, exitStatusOf, type ExitStatus } from '../shared/exit-status.js';

/** What decides a finished run's exit status, in either mode. */
export interface FinishedRun {
  status: 'completed' | 'interrupted' | 'failed';
  sources?: readonly { id: string; status?: string; error?: string }[];
  /** Why a failed run failed (distributed runs carry it from the writer). */
  message?: string;
  code?: string;
}

/**
 * The exit status of a finished run, with a one-line reason on stderr when it is not 0: cron must notice a run
 * that crawled nothing, a run where only some sources could be crawled, and a run Redis lost data of.
 */
export function runExitStatus(run: FinishedRun): ExitStatus {
  if (run.status === 'interrupted') return EXIT.INTERRUPTED;
  if (run.status !== 'completed' && run.status !== 'failed') {
    // Not a run summary (a writer that found the run already ended answers { stale: true }): never success.
    process.stderr.write('skillsmith-index: the run ended without a summary from the writer; see `status`\n');
    return EXIT.UNEXPECTED;
  }
  const failed = (run.sources ?? []).filter((s) => s.status === 'failed');
  if (run.status === 'failed') {
    const none = failed.length > 0 && failed.length === (run.sources ?? []).length;
    const code: ErrorCode | undefined = none
      ? ERROR_CODES.SOURCE_FAILED
      : isErrorCode(run.code)
        ? run.code
        : undefined;
    const first = failed[0];
    const why = none
      ? `no source could be crawled${first ? ` (${first.id}: ${first.error ?? 'failed'})` : ''}`
      : `the run failed: ${run.message ?? 'see status'}`;
    process.stderr.write(`skillsmith-index: ${why}${code ? ` [${code}]` : ''}\n`);
    return code ? exitStatusOf(code) : EXIT.UNEXPECTED;
  }
  if (failed.length > 0) {
    process.stderr.write(
      `skillsmith-index: ${failed.length} of ${(run.sources ?? []).length} sources could not be crawled (${failed
        .map((s) => s.id)
        .join(', ')}); the others are indexed [${ERROR_CODES.SOURCE_FAILED}]\n`,
    );
    return EXIT.PARTIAL;
  }
  return EXIT.OK;
}
