// The CLI as users run it: `dist/bin/skillsmith-index.js`, bundled by esbuild from tsc's output in dist/src
// (`npm run build` runs tsc, then this). Why: Node loads an ESM module graph file by file, and a command's
// start-up was mostly that (commander, zod's ~100 files, BullMQ, ioredis …); one file per command costs a
// fraction. Each command stays its own chunk (splitting), loaded only when asked for, as in dist/src.
//
// The embed worker is a second entry beside the CLI: piscina starts it by path, and `workerFile()` finds it next
// to whichever file holds the pool. Left outside the bundle, loaded from node_modules as they are: native
// modules, and packages that find files or start threads by path at run time.
import { build } from 'esbuild';
import { chmodSync, rmSync, writeFileSync } from 'node:fs';

const outdir = 'dist/bin';
const external = [
  // Native bindings.
  'better-sqlite3',
  'onnxruntime-node',
  'msgpackr-extract',
  // Start worker threads from their own files (piscina's worker, pino's thread-stream transports).
  'piscina',
  'pino',
  'pino-pretty',
  'thread-stream',
  // Serve or read files beside their own code (the dashboard's UI assets, the default model's weights).
  'express',
  '@bull-board/*',
  '@energetic-ai/*',
];

rmSync(outdir, { recursive: true, force: true });
const result = await build({
  entryPoints: {
    'skillsmith-index': 'dist/src/cli/main.js',
    'embed-worker': 'dist/src/workers/embed-worker.js',
  },
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external,
  // Bundled CommonJS packages (commander, ioredis …) call require() for Node's own modules.
  banner: {
    js: "import { createRequire as __bundleRequire } from 'node:module';\nconst require = __bundleRequire(import.meta.url);",
  },
  logLevel: 'warning',
  metafile: true,
});
chmodSync(`${outdir}/skillsmith-index.js`, 0o755);
// Which sources each output file holds: tests read it to check what a command loads (a one-shot search no zod).
writeFileSync('dist/bin.meta.json', JSON.stringify(result.metafile));
