import type { SeenSkill } from '../shared/known-skills.js';
import type { ErrorRecord } from '../shared/records.js';
import type { ChangedSkill } from './triage.js';

/** The lists of one batch: skills to write (as the mode holds them), rejections, skills seen unchanged. */
export interface BatchLists<S> {
  skills: S[];
  errors: ErrorRecord[];
  seen: SeenSkill[];
}

/** Options of {@link OpenBatch}. */
export interface OpenBatchOptions<S> {
  /** Skills per batch. Rows that need no embedding (seen, errors) go up to 4 × this. */
  size: number;
  /** Bytes of a batch (by {@link bytesOf}), at most; one larger skill still makes a batch of one. */
  maxBytes?: number;
  /** A changed skill as this mode's batch holds it. */
  hold: (skill: ChangedSkill) => S;
  /** What a held skill adds to the batch's bytes. Default: nothing (the batch is bounded by count alone). */
  bytesOf?: (skill: S) => number;
  /** Sends a batch on: embedded, to the pool and the writer; distributed, to a queue. */
  send: (lists: BatchLists<S>) => Promise<void>;
}

/**
 * The batch a crawl is filling. Each mode decides how a skill is held and where a batch goes; when and how
 * a batch is cut is the same in both, so the two modes write the same rows in the same batches.
 */
export class OpenBatch<S> implements BatchLists<S> {
  // Public so the crawl can push rejections and seen skills; flush() replaces these arrays, so always reach
  // them through the batch (`batch.errors.push`), never through a reference kept across a flush.
  skills: S[] = [];
  errors: ErrorRecord[] = [];
  seen: SeenSkill[] = [];
  private bytes = 0;

  constructor(private readonly options: OpenBatchOptions<S>) {}

  /** Adds a skill that needs writing (its content or its vector changed). */
  addChanged(skill: ChangedSkill): void {
    const held = this.options.hold(skill);
    this.skills.push(held);
    this.bytes += this.options.bytesOf?.(held) ?? 0;
  }

  /** Whether it is to be sent before the crawl goes on. */
  full(): boolean {
    const { size, maxBytes = Infinity } = this.options;
    return (
      this.skills.length >= size ||
      this.bytes >= maxBytes ||
      this.seen.length + this.errors.length >= 4 * size
    );
  }

  /**
   * Sends what it holds, if anything, and starts the next batch. The lists are handed over before the send:
   * a send that fails ends the run in both modes (nothing retries it here), so they are not kept.
   */
  async flush(): Promise<void> {
    if (this.skills.length === 0 && this.errors.length === 0 && this.seen.length === 0) return;
    const lists: BatchLists<S> = { skills: this.skills, errors: this.errors, seen: this.seen };
    this.skills = [];
    this.errors = [];
    this.seen = [];
    this.bytes = 0;
    await this.options.send(lists);
  }
}
