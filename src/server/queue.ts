/**
 * The analysis queue with latency-aware admission: at most `concurrency` analyses run, and a new
 * one is refused at once with OVERLOADED (503 + Retry-After) when it would wait longer than
 * `maxWaitMs` (estimated from the work already running and waiting) or when `maxWaiting` already
 * wait. A refused request costs next to nothing and is never held in memory; one that is admitted
 * waits about as long as the budget says, so latency at capacity is bounded by the budget plus its
 * own service time instead of growing with the queue.
 *
 * Service time is learned as an exponential average of milliseconds per decoded pixel (each
 * analysis's cost is its pixel count, known from the image header before it is queued), so a
 * 12 MP photo counts for what it costs rather than as one request.
 */
import { FacesenseError } from '../core/errors.js';

export interface QueueOptions {
  /** Analyses running at once. */
  readonly concurrency: number;
  /** Analyses waiting beyond those: the hard bound, whatever the estimate says. */
  readonly maxWaiting: number;
  /** Longest estimated wait for a slot a new analysis is admitted with; Infinity: the hard bound only. */
  readonly maxWaitMs: number;
}

export interface RunOptions<T> {
  /** Decoded pixels of the input (from its header): its cost. Unknown: the mean analysis. */
  readonly pixels?: number;
  /** Ends the wait, or the run, with the signal's reason; a running `fn` keeps its slot until it settles. */
  readonly signal?: AbortSignal;
  /** Already admitted with `admit()` (the later files of one request): only the hard bound applies. */
  readonly admitted?: boolean;
  /**
   * Longest actual wait: one still waiting then is dropped with OVERLOADED, unrun (the estimate
   * that admitted it was too low). Bounds the wait of what is admitted, not just its estimate.
   */
  readonly dropAfterMs?: number;
  /** Whether a result is a sample of service time (a file refused at its header is not). @default every result */
  readonly sample?: (result: T) => boolean;
}

export interface AnalysisQueue {
  /**
   * Runs `fn` when a slot is free; throws OVERLOADED when the queue refuses it, TIMEOUT when it
   * waited past `waitMs`, the signal's reason when `options.signal` fires.
   */
  run<T>(fn: () => Promise<T>, waitMs?: number, options?: RunOptions<T>): Promise<T>;
  /** Throws OVERLOADED when a new analysis would be refused now (checked before a request's body is read). */
  admit(): void;
  readonly active: number;
  readonly waiting: number;
  readonly capacity: number;
  /** True when a new analysis would be refused now. */
  readonly full: boolean;
  /** Estimated milliseconds before a new analysis would start. */
  estimatedWaitMs(): number;
  /** Milliseconds an analysis of `pixels` is expected to take (the learned average). */
  serviceMs(pixels?: number): number;
  /** Seconds until a new request would be admitted again, from the work ahead (≥ 1). */
  retryAfterSec(): number;
  /** Resolves when nothing runs or waits. */
  drained(): Promise<void>;
}

/** Below this an image costs about the same: the detector and the models have fixed input sizes. */
const MIN_COST_PIXELS = 100_000;
/** Weight of the newest sample in the averages (about the last 10 analyses count). */
const ALPHA = 0.2;

export function createAnalysisQueue(options: QueueOptions): AnalysisQueue {
  const { concurrency, maxWaiting, maxWaitMs } = options;
  let active = 0;
  const running = new Set<{ readonly costMs: number; readonly t0: number }>();
  /** `start` resolves the waiter and says true, or drops it (past its wait bound) and says false. */
  const waiters: { start: () => boolean; readonly costMs: number }[] = [];
  const idle: (() => void)[] = [];
  // Starting guesses, replaced by measurements after a few analyses: ~45 ms for a 640×480 photo.
  let msPerPixel = 45 / 307_200;
  let meanMs = 45;

  const serviceMs = (pixels?: number) => (pixels === undefined || !(pixels > 0) ? meanMs : msPerPixel * Math.max(pixels, MIN_COST_PIXELS));
  const estimatedWaitMs = () => {
    if (active < concurrency && waiters.length === 0) return 0;
    const now = performance.now();
    let work = 0;
    // What the running analyses have left (at least a little: one past its estimate is still running), and all of the waiting ones.
    for (const r of running) work += Math.max(r.costMs - (now - r.t0), r.costMs * 0.1);
    for (const w of waiters) work += w.costMs;
    return work / concurrency;
  };
  const refusal = (): string | undefined => {
    if (active < concurrency && waiters.length === 0) return undefined;
    if (waiters.length >= maxWaiting) return `the server is at capacity (${active} analyses running, ${waiters.length} waiting)`;
    const wait = estimatedWaitMs();
    if (wait > maxWaitMs) return `the server is at capacity: a new analysis would wait about ${Math.round(wait)} ms, over the ${maxWaitMs} ms budget (${active} running, ${waiters.length} waiting)`;
    return undefined;
  };
  const overloaded = (why: string) => new FacesenseError('OVERLOADED', `${why}; retry later`);

  // A freed slot passes straight to the next waiter (counted as active from here), so no new arrival slips in between.
  const next = () => {
    for (let w = waiters.shift(); w !== undefined; w = waiters.shift()) {
      // One past its wait bound is dropped here even when its timer is late (a busy event loop).
      if (w.start()) {
        active++;
        return;
      }
    }
    if (active === 0) idle.splice(0).forEach((f) => f());
  };
  const release = () => {
    active--;
    next();
  };

  return {
    get active() {
      return active;
    },
    get waiting() {
      return waiters.length;
    },
    capacity: concurrency + maxWaiting,
    get full() {
      return refusal() !== undefined;
    },
    admit() {
      const why = refusal();
      if (why !== undefined) throw overloaded(why);
    },
    estimatedWaitMs,
    serviceMs,
    retryAfterSec() {
      const wait = estimatedWaitMs();
      // When the work ahead has shrunk back to the budget (the hard bound: to an empty queue).
      const until = Number.isFinite(maxWaitMs) && waiters.length < maxWaiting ? wait - maxWaitMs : wait;
      return Math.max(1, Math.ceil(until / 1000));
    },
    async run<T>(fn: () => Promise<T>, waitMs?: number, o: RunOptions<T> = {}): Promise<T> {
      const { signal } = o;
      const aborted = () => signal?.aborted === true;
      if (aborted()) throw signal!.reason;
      const costMs = serviceMs(o.pixels);
      if (active < concurrency && waiters.length === 0) active++;
      else {
        const why = o.admitted === true ? (waiters.length >= maxWaiting ? refusal() : undefined) : refusal();
        if (why !== undefined) throw overloaded(why);
        await new Promise<void>((resolve, reject) => {
          let timer: NodeJS.Timeout | undefined;
          const clear = () => {
            if (timer !== undefined) clearTimeout(timer);
            signal?.removeEventListener('abort', onAbort);
          };
          const dropAt = o.dropAfterMs !== undefined && Number.isFinite(o.dropAfterMs) ? performance.now() + o.dropAfterMs : undefined;
          const dropped = () => overloaded(`the server is at capacity: this analysis waited ${o.dropAfterMs} ms for a slot, its whole budget, and was not started`);
          const w = {
            costMs,
            start: () => {
              clear();
              if (dropAt !== undefined && performance.now() > dropAt) {
                reject(dropped());
                return false;
              }
              resolve();
              return true;
            },
          };
          const leave = (e: unknown) => {
            waiters.splice(waiters.indexOf(w), 1);
            clear();
            reject(e);
            // The one leaving may have been the last thing a drain waits for.
            if (active === 0 && waiters.length === 0) idle.splice(0).forEach((f) => f());
          };
          const onAbort = () => leave(signal!.reason);
          if (waitMs !== undefined) timer = setTimeout(() => leave(new FacesenseError('TIMEOUT', `waited ${waitMs} ms for an analysis slot; retry later`)), waitMs);
          else if (dropAt !== undefined) timer = setTimeout(() => leave(dropped()), o.dropAfterMs);
          signal?.addEventListener('abort', onAbort, { once: true });
          waiters.push(w);
        });
        // Fired while the slot was being handed over: given back, not used.
        if (aborted()) {
          release();
          throw signal!.reason;
        }
      }
      const slot = { costMs, t0: performance.now() };
      running.add(slot);
      const work = (async () => fn())();
      // The slot is held until the analysis settles, even when its caller was answered at an abort.
      void work.then(
        (r) => {
          if (o.sample?.(r) ?? true) {
            const ms = performance.now() - slot.t0;
            meanMs = (1 - ALPHA) * meanMs + ALPHA * ms;
            if (o.pixels !== undefined && o.pixels > 0) msPerPixel = (1 - ALPHA) * msPerPixel + (ALPHA * ms) / Math.max(o.pixels, MIN_COST_PIXELS);
          }
        },
        () => undefined,
      ).finally(() => {
        running.delete(slot);
        release();
      });
      if (signal === undefined) return work;
      return new Promise<T>((resolve, reject) => {
        const onAbort = () => reject(signal.reason);
        signal.addEventListener('abort', onAbort, { once: true });
        work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
      });
    },
    drained: () => (active === 0 && waiters.length === 0 ? Promise.resolve() : new Promise<void>((r) => idle.push(r))),
  };
}
