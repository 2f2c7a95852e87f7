/**
 * Turns off onnxruntime's Linux telemetry before the first session is created.
 *
 * ORT 1.30's 1DS telemetry, started with the first environment, reads `/proc/self/cmdline` and recurses deeply on a
 * long one: a 30–40 KB `search` query or `index` given 200+ folders segfaulted (exit 139) inside
 * `InferenceSession.create`. ORT skips telemetry when `CI` is set, which is why CI never saw it; the documented
 * switch is `ORT_DISABLE_TELEMETRY`. Must run on the main thread: worker threads cannot change the process's real
 * environment, but they read it, so threads started afterwards inherit the setting. A value the user set wins.
 */
export function disableOrtTelemetry(): void {
  if (process.env.ORT_DISABLE_TELEMETRY === undefined) process.env.ORT_DISABLE_TELEMETRY = '1';
}
