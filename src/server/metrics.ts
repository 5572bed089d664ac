/** Prometheus metrics, one registry per server (no global registry: several servers can share a process). */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { BatchItem } from '../core/analyzer.js';
import type { JobManager } from './jobs.js';
import type { AnalysisQueue } from './queue.js';

export interface Metrics {
  readonly contentType: string;
  observe(req: FastifyRequest, reply: FastifyReply): void;
  /** An analysed image; `countError: false` when the error is answered (and counted) as the request's own. */
  analysed(item: BatchItem, countError?: boolean): void;
  /** Faces on a stream frame. */
  frame(faces: number): void;
  error(code: string): void;
  /** A request that reached its deadline, waiting for a slot or while its analysis ran. */
  timeout(phase: 'waiting' | 'running'): void;
  /** An analysis whose request had ended (deadline, client gone): stopped between stages, or completed anyway. */
  abandoned(result: 'stopped' | 'completed'): void;
  jobEvent(event: string): void;
  watchQueue(q: AnalysisQueue): void;
  watchJobs(j: JobManager): void;
  text(): Promise<string>;
}

export function createMetrics(): Metrics {
  const register = new Registry();
  collectDefaultMetrics({ register, prefix: 'facesense_' });
  const requests = new Counter({ name: 'facesense_http_requests_total', help: 'HTTP requests by route, method and status', labelNames: ['route', 'method', 'status'], registers: [register] });
  const latency = new Histogram({
    name: 'facesense_http_request_duration_seconds',
    help: 'HTTP request latency by route',
    labelNames: ['route', 'method'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [register],
  });
  const images = new Counter({ name: 'facesense_images_total', help: 'Images analysed, by outcome', labelNames: ['outcome'], registers: [register] });
  const faces = new Counter({ name: 'facesense_faces_total', help: 'Faces found in analysed images and stream frames', registers: [register] });
  const frames = new Counter({ name: 'facesense_stream_frames_total', help: 'WebSocket stream frames analysed', registers: [register] });
  const errors = new Counter({ name: 'facesense_errors_total', help: 'Errors answered, by stable error code', labelNames: ['code'], registers: [register] });
  const timeouts = new Counter({ name: 'facesense_request_timeouts_total', help: 'Image requests past their deadline, by where they were', labelNames: ['phase'], registers: [register] });
  const abandoned = new Counter({ name: 'facesense_analyses_abandoned_total', help: 'Analyses whose request ended first (deadline or client gone): stopped at a stage boundary, or completed anyway', labelNames: ['result'], registers: [register] });
  const jobEvents = new Counter({ name: 'facesense_video_job_events_total', help: 'Video job transitions', labelNames: ['event'], registers: [register] });
  return {
    contentType: register.contentType,
    observe(req, reply) {
      // The route pattern, not the URL: ids must not explode the label set.
      const route = req.routeOptions.url ?? 'unmatched';
      requests.inc({ route, method: req.method, status: String(reply.statusCode) });
      latency.observe({ route, method: req.method }, reply.elapsedTime / 1000);
    },
    analysed(item, countError = true) {
      images.inc({ outcome: item.ok ? 'ok' : 'error' });
      if (item.ok) faces.inc(item.result.faces.length);
      else if (countError) errors.inc({ code: item.error.code });
    },
    frame(n) {
      frames.inc();
      faces.inc(n);
    },
    error: (code) => errors.inc({ code }),
    timeout: (phase) => timeouts.inc({ phase }),
    abandoned: (result) => abandoned.inc({ result }),
    jobEvent: (event) => jobEvents.inc({ event }),
    watchQueue(q) {
      new Gauge({ name: 'facesense_analysis_queue_waiting', help: 'Analyses waiting for a slot', registers: [register], collect() { this.set(q.waiting); } });
      new Gauge({ name: 'facesense_analysis_in_flight', help: 'Analyses running', registers: [register], collect() { this.set(q.active); } });
      new Gauge({ name: 'facesense_analysis_estimated_wait_seconds', help: 'Estimated wait for a slot of a new analysis (admission refuses over --max-queue-wait)', registers: [register], collect() { this.set(q.estimatedWaitMs() / 1000); } });
    },
    watchJobs(j) {
      new Gauge({
        name: 'facesense_video_jobs',
        help: 'Video jobs on disk by state',
        labelNames: ['state'],
        registers: [register],
        collect() {
          for (const [state, n] of Object.entries(j.counts())) this.set({ state }, n);
        },
      });
    },
    text: () => register.metrics(),
  };
}
