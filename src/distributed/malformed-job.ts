import { UnrecoverableError } from 'bullmq';
import type { z } from 'zod';

/**
 * The error of a job whose payload does not validate, naming the first bad field. Such a job can never succeed,
 * so it is not retried: it goes straight to the failed set (a dead letter) with this reason.
 */
export function malformedJob(what: string, err: z.ZodError): UnrecoverableError {
  const issue = err.issues[0];
  return new UnrecoverableError(
    `malformed ${what} job: ${issue?.path.join('.') ?? ''} ${issue?.message ?? ''}`,
  );
}
