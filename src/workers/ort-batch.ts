/**
 * Texts per ORT call by default. Small on purpose: the texts of a call are sorted by length, so padding is
 * small at any size, and smaller calls keep the activations in the core's cache. The raw ORT ceiling on the
 * corpus (2 threads × intra-op 1, one AMD EPYC; bench/ort-ceiling.ts) went 1,109 → 1,349 → 1,460 → 1,499 texts/s
 * at 32, 16, 8 and 4 texts per call (int8) and 488 → 504 → 556 → 567 (float32); whole `index` runs, 7
 * alternating pairs each, took 0.90× the CPU at 16 against 32, 0.97× at 8 against 16 and 0.97× at 4 against 8.
 * On an Intel Xeon with AVX-512 VNNI the same holds, more so: one session over every corpus text took 2.24,
 * 1.96, 1.86, 1.98, 2.35 and 2.65 s at 1, 2, 4, 8, 16 and 32 texts per call (int8; float32 7.30 s at 4 against
 * 7.50 at 8), and `index` at 4 against 8, 7 alternating pairs, 0.95× the CPU and 0.97× the wall. Below 4 the
 * per-call overhead wins again.
 */
export const DEFAULT_MAX_BATCH = 4;
