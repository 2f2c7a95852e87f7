/**
 * Texts per ORT call by default. Small on purpose: the texts of a call are sorted by length, so padding is
 * small at any size, and smaller calls keep the activations in the core's cache. The raw ORT ceiling on the
 * corpus (2 threads × intra-op 1, one AMD EPYC; bench/ort-ceiling.ts) went 1,109 → 1,349 → 1,460 → 1,499 texts/s
 * at 32, 16, 8 and 4 texts per call (int8) and 488 → 504 → 556 → 567 (float32); whole `index` runs, 7
 * alternating pairs each, took 0.90× the CPU at 16 against 32, 0.97× at 8 against 16 and 0.97× at 4 against 8.
 * 8 keeps most of the gain with half the calls of 4.
 */
export const DEFAULT_MAX_BATCH = 8;
