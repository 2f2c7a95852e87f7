import type { EmbeddingRecord, RunCounts } from '../shared/records.js';
import type { EmbedQueue } from '../stages/embed-queue.js';
import type { BatchLists } from '../stages/open-batch.js';
import type { ChangedSkill } from '../stages/triage.js';
import type { IndexWriter } from '../writer/index-writer.js';

/** Options of {@link BatchWrites}. */
export interface BatchWritesOptions {
  writer: IndexWriter;
  runId: number;
  modelId: string;
  queue: EmbedQueue;
  /** Batches embedded or waiting to be written at once; {@link BatchWrites.send} waits beyond it. */
  maxInFlight: number;
  counts: RunCounts;
  /** After each batch is written, with how many items it handled (skills, rejections, seen). */
  onWritten: (handled: number) => void;
}

/**
 * The embedded mode's batches between the crawl and the writer: each one waits for its vectors (stored ones,
 * ones being embedded for an earlier batch, or new ones from the queue) and is then written in one
 * transaction. At most `maxInFlight` exist at once, so memory does not grow with the corpus.
 */
export class BatchWrites {
  private readonly inFlight = new Set<Promise<void>>();
  private failure: unknown;
  /** Texts being embedded right now, so a text met twice in one run goes through the model once. */
  private readonly embedding = new Map<string, Promise<Float32Array>>();

  constructor(private readonly o: BatchWritesOptions) {}

  /** Starts a batch on its way; returns once it is in flight (the crawler waits here while all slots are taken). */
  async send(lists: BatchLists<ChangedSkill>): Promise<void> {
    // Backpressure: the crawler stops here until a batch slot is free. Queued texts go out first, since
    // the batches in flight may be waiting for them.
    if (this.inFlight.size >= this.o.maxInFlight) this.o.queue.dispatch();
    while (this.inFlight.size >= this.o.maxInFlight) await Promise.race(this.inFlight);
    if (this.failure) throw this.failure;
    const { vectors, mine } = this.vectorsFor(lists.skills);
    const tracked = this.write(lists, vectors, mine).then(
      () => void this.inFlight.delete(tracked),
      (err: unknown) => {
        this.inFlight.delete(tracked);
        this.failure ??= err;
      },
    );
    this.inFlight.add(tracked);
  }

  /** Sends what the queue still holds and waits until every batch is written; throws the first failure. */
  async drain(): Promise<void> {
    this.o.queue.dispatch();
    while (this.inFlight.size > 0) await Promise.race(this.inFlight);
    if (this.failure) throw this.failure;
  }

  /** The vector of each text of a batch, and the texts this batch sent to the model. */
  private vectorsFor(skills: readonly ChangedSkill[]): {
    vectors: Map<string, Promise<Float32Array> | Uint8Array>;
    mine: string[];
  } {
    const vectors = new Map<string, Promise<Float32Array> | Uint8Array>();
    const mine: string[] = [];
    for (const s of skills) {
      if (vectors.has(s.textHash)) continue;
      const stored = this.o.writer.vectorForText(this.o.modelId, s.textHash);
      const running = this.embedding.get(s.textHash);
      if (stored) vectors.set(s.textHash, stored);
      else if (running) vectors.set(s.textHash, running);
      else {
        const v = this.o.queue.embed(s.text);
        v.catch(() => undefined); // the batch's write reports the failure
        vectors.set(s.textHash, v);
        this.embedding.set(s.textHash, v);
        mine.push(s.textHash);
      }
    }
    return { vectors, mine };
  }

  /** Waits for the batch's vectors, then writes it. */
  private async write(
    lists: BatchLists<ChangedSkill>,
    vectors: Map<string, Promise<Float32Array> | Uint8Array>,
    mine: readonly string[],
  ): Promise<void> {
    const { skills, errors, seen } = lists;
    const { counts, modelId } = this.o;
    const embeddings: EmbeddingRecord[] = [];
    for (const s of skills) {
      const v = vectors.get(s.textHash) as Promise<Float32Array> | Uint8Array;
      const vector = v instanceof Uint8Array ? v : await v;
      embeddings.push({ skillId: s.record.id, modelId, chunk: 0, vector, textHash: s.textHash });
    }
    const { changed } = this.o.writer.writeBatch({
      runId: this.o.runId,
      skills: skills.map((s) => s.record),
      embeddings,
      errors,
      seen,
    });
    counts.indexed += changed;
    // Sent for writing with their content already stored: only their vectors are new (another model, a new
    // text config). They are unchanged skills, re-embedded, so that seen = indexed + unchanged + failed.
    counts.unchanged += skills.length - changed;
    counts.reembedded = (counts.reembedded ?? 0) + skills.length - changed;
    // Written: later batches find these vectors in the database.
    for (const h of mine) this.embedding.delete(h);
    this.o.onWritten(skills.length + errors.length + seen.length);
  }
}
