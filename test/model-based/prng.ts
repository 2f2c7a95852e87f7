/** A seeded PRNG (mulberry32): the same seed draws the same walk, so a failure replays exactly. */
export class Prng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from an empty list');
    return items[this.int(items.length)] as T;
  }

  /** `n` words from a small vocabulary: texts short enough to embed fast, varied enough to differ. */
  words(n: number): string {
    const out: string[] = [];
    for (let i = 0; i < n; i++) out.push(this.pick(VOCAB));
    return out.join(' ');
  }
}

const VOCAB = [
  'convert',
  'pdf',
  'invoice',
  'deploy',
  'kubernetes',
  'cluster',
  'review',
  'pull',
  'request',
  'test',
  'browser',
  'screenshot',
  'database',
  'migration',
  'schema',
  'query',
  'spreadsheet',
  'chart',
  'slides',
  'translate',
  'summarise',
  'email',
  'calendar',
  'budget',
  'audit',
  'security',
  'lint',
  'format',
  'release',
  'changelog',
  'docker',
  'image',
  'resize',
  'audio',
  'transcribe',
  'search',
  'index',
  'vector',
  'cache',
  'retry',
  'queue',
  'worker',
  'logs',
  'metrics',
  'alert',
  'backup',
  'restore',
  'archive',
  'upload',
  'sync',
];
