import type { CrawlProblem } from '../shared/skill-doc.js';

/** Rows in `index_errors` per skill for left-out sibling files; past it, one more row carries the count. */
export const MAX_SIBLING_PROBLEMS = 10;

/**
 * Caps what one skill's left-out siblings write to `index_errors`: a folder with 10,000 sibling files once wrote
 * 9,969 rows in one run. The first {@link MAX_SIBLING_PROBLEMS} are reported as they are; the rest are counted
 * and reported as one row at `<skill folder>/*` whose message carries the count.
 */
export class SiblingProblems {
  private shown = 0;
  private more = 0;
  private readonly codes = new Set<string>();

  constructor(
    private readonly sourceId: string,
    private readonly folder: string,
  ) {}

  /** The problem to yield now, or undefined once the cap is reached (then it is only counted). */
  take(problem: CrawlProblem): CrawlProblem | undefined {
    if (this.shown < MAX_SIBLING_PROBLEMS) {
      this.shown++;
      return problem;
    }
    this.more++;
    this.codes.add(problem.code);
    return undefined;
  }

  /** One problem that sums up the ones not reported, if any. */
  rest(): CrawlProblem | undefined {
    if (this.more === 0) return undefined;
    const [code] = this.codes;
    return {
      sourceId: this.sourceId,
      path: this.folder === '.' || this.folder === '' ? '*' : `${this.folder}/*`,
      code: code as CrawlProblem['code'],
      message:
        `${this.more} more sibling files of this skill were left out (${[...this.codes].join(', ')}), ` +
        `not listed one by one; the skill is indexed without them`,
      scope: 'file',
    };
  }
}
