/**
 * The bounded analysis queue: at most `concurrency` analyses run, at most `maxWaiting` wait; one
 * more is refused at once with OVERLOADED (503 + Retry-After) instead of holding its body in memory.
 */
import { FacesenseError } from '../core/errors.js';

export interface AnalysisQueue {
  /** Runs `fn` when a slot is free; throws OVERLOADED when the queue is full, TIMEOUT when it waited past `waitMs`. */
  run<T>(fn: () => Promise<T>, waitMs?: number): Promise<T>;
  readonly active: number;
  readonly waiting: number;
  readonly capacity: number;
  /** True when a new analysis would be refused now. */
  readonly full: boolean;
  /** Seconds a new request would wait, from recent service times (≥ 1). */
  retryAfterSec(): number;
  /** Resolves when nothing runs or waits. */
  drained(): Promise<void>;
}

export function createAnalysisQueue(concurrency: number, maxWaiting: number): AnalysisQueue {
  let active = 0;
  const waiters: { start: () => void; timer: NodeJS.Timeout | undefined }[] = [];
  const idle: (() => void)[] = [];
  // Exponential average of an analysis's duration, for Retry-After.
  let meanMs = 100;

  const next = () => {
    const w = waiters.shift();
    if (w !== undefined) {
      if (w.timer !== undefined) clearTimeout(w.timer);
      w.start();
    } else if (active === 0) idle.splice(0).forEach((f) => f());
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
      return active >= concurrency && waiters.length >= maxWaiting;
    },
    retryAfterSec: () => Math.max(1, Math.ceil(((waiters.length + 1) * meanMs) / concurrency / 1000)),
    async run<T>(fn: () => Promise<T>, waitMs?: number): Promise<T> {
      if (active >= concurrency) {
        if (waiters.length >= maxWaiting) throw new FacesenseError('OVERLOADED', `the server is at capacity (${concurrency} analyses running, ${maxWaiting} waiting); retry later`);
        await new Promise<void>((resolve, reject) => {
          const w = { start: resolve, timer: undefined as NodeJS.Timeout | undefined };
          if (waitMs !== undefined) {
            w.timer = setTimeout(() => {
              waiters.splice(waiters.indexOf(w), 1);
              reject(new FacesenseError('TIMEOUT', `waited ${waitMs} ms for an analysis slot; retry later`));
            }, waitMs);
          }
          waiters.push(w);
        });
      }
      active++;
      const t0 = performance.now();
      try {
        return await fn();
      } finally {
        meanMs = 0.8 * meanMs + 0.2 * (performance.now() - t0);
        active--;
        next();
      }
    },
    drained: () => (active === 0 && waiters.length === 0 ? Promise.resolve() : new Promise<void>((r) => idle.push(r))),
  };
}
