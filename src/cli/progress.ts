import cliProgress from 'cli-progress';
import type { RunProgress } from '../embedded/embedded-run.js';

/** A progress bar on stderr, only when stderr is a TTY (never in logs or pipes). */
export interface Progress {
  update(p: RunProgress, total?: number): void;
  stop(): void;
}

export function createProgress(enabled: boolean): Progress {
  if (!enabled || !process.stderr.isTTY) return { update: () => undefined, stop: () => undefined };
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format:
        '{bar} {value}/{total} skills | {rate} skills/s | ETA {eta_formatted} | embedded {embedded} unchanged {unchanged} failed {failed}',
      hideCursor: true,
      etaBuffer: 200,
      fps: 5,
    },
    cliProgress.Presets.shades_classic,
  );
  const started = performance.now();
  let running = false;
  return {
    update(p, total) {
      const payload = {
        rate: (p.done / Math.max((performance.now() - started) / 1000, 1e-3)).toFixed(1),
        embedded: p.embedded,
        unchanged: p.unchanged,
        failed: p.failed,
      };
      if (!running) {
        bar.start(total ?? p.seen, p.done, payload);
        running = true;
      }
      bar.setTotal(Math.max(total ?? p.seen, p.done));
      bar.update(p.done, payload);
    },
    stop() {
      if (running) bar.stop();
    },
  };
}
