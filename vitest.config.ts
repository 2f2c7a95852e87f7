import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Integration tests run the real ONNX model and real processes: give them room, but never assert on time.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Two cores: run test files one after another so model-heavy tests do not starve each other.
    fileParallelism: false,
  },
});
