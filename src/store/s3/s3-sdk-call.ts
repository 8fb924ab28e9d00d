/**
 * The one place S3Store's SDK calls pass through: their failures become StoreErrors here, and a
 * server that cannot be reached at all is waited for. Apart from the store so the outage policy
 * reads in one piece next to its timing (s3-retry.ts), which the lean data path shares.
 */
import { toStoreError } from "./s3-errors.js";
import { isOutage, outageWaitMs } from "./s3-retry.js";

/**
 * One SDK call (with the SDK's own 5 attempts). If those all failed because the server could
 * not be reached at all (refused, reset, timed out), the server is probably restarting: object
 * requests keep trying with backoff for up to `outagePatienceMs`, so a read or upload in
 * progress completes once it is back. The bucket check at mount time fails fast instead.
 */
export async function sdkCall<T>(
  what: string,
  key: string | undefined,
  run: (signal?: AbortSignal) => Promise<T>,
  signal: AbortSignal | undefined,
  outagePatienceMs: number,
): Promise<T> {
  const patient = what !== "HeadBucket" && what !== "CompleteMultipartUpload";
  const started = Date.now();
  for (let attempt = 1; ; attempt++) {
    try {
      return await run(signal);
    } catch (err) {
      const waited = Date.now() - started;
      if (!patient || signal?.aborted || !isOutage(err) || waited >= outagePatienceMs)
        throw toStoreError(err, what, key);
      await new Promise((r) => setTimeout(r, outageWaitMs(attempt, waited, outagePatienceMs)));
    }
  }
}
