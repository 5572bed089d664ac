/**
 * An object's lifecycle around its native resources (ONNX Runtime sessions): calls in flight are
 * counted, `dispose()` waits for them before releasing anything (releasing a session under a
 * running call killed the process with "Session already disposed"), later calls fail with
 * `DISPOSED`, and an AbortSignal ends a call with `ABORTED` between its stages.
 */
import { FacesenseError } from './errors.js';

export interface Lifecycle {
  /** Throws `DISPOSED` once dispose() was called. */
  checkOpen(): void;
  /** Throws `ABORTED` naming `source` when `signal` has fired. */
  checkAborted(signal: AbortSignal | undefined, source: string): void;
  /** Runs `work` as an in-flight call (after checkOpen); dispose() waits for it. */
  run<T>(work: () => Promise<T>): Promise<T>;
  /** Marks the object disposed, waits for in-flight calls, then runs `release` once. */
  dispose(release: () => Promise<void>): Promise<void>;
}

export function createLifecycle(): Lifecycle {
  const inflight = new Set<Promise<unknown>>();
  let disposing: Promise<void> | undefined;

  function checkOpen(): void {
    if (disposing !== undefined) throw new FacesenseError('DISPOSED', 'this analyzer was disposed; create a new one');
  }

  function checkAborted(signal: AbortSignal | undefined, source: string): void {
    if (signal?.aborted === true) throw new FacesenseError('ABORTED', 'aborted by the caller (AbortSignal)', { source, cause: signal.reason });
  }

  function run<T>(work: () => Promise<T>): Promise<T> {
    let p: Promise<T>;
    try {
      checkOpen();
      p = work();
    } catch (e) {
      return Promise.reject(e);
    }
    inflight.add(p);
    const done = () => inflight.delete(p);
    p.then(done, done);
    return p;
  }

  function dispose(release: () => Promise<void>): Promise<void> {
    disposing ??= (async () => {
      // New calls are refused from here on; the running ones finish (or fail) first.
      while (inflight.size > 0) await Promise.allSettled([...inflight]);
      await release();
    })();
    return disposing;
  }

  return { checkOpen, checkAborted, run, dispose };
}
