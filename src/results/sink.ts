/**
 * Where queued jobs put their results. Every write is keyed by the job's own identity, so a job
 * delivered twice (a worker died after writing, a stalled job handed to another worker) replaces
 * its earlier output instead of adding to it: one record per input, whatever the redeliveries.
 */
import type { ResultRecord } from './records.js';

/** The frames one video segment produced (see src/queue/segments.ts). */
export interface SegmentOutput {
  readonly source: string;
  readonly index: number;
  readonly startMs: number;
  readonly endMs: number;
  /** JSON of the segment's analysis: frames with local track ids. */
  readonly data: unknown;
}

export interface ResultSink {
  /** Stores the records of one job (replacing any earlier delivery of the same job). */
  writeImages(batchId: string, jobId: string, records: readonly ResultRecord[]): Promise<void>;
  /** Every record of a batch, ordered by source. */
  readImages(batchId: string): AsyncIterable<ResultRecord>;
  writeSegment(batchId: string, segment: SegmentOutput): Promise<void>;
  readSegments(batchId: string): Promise<SegmentOutput[]>;
  /** Removes a batch's results (cancel --purge). */
  drop(batchId: string): Promise<void>;
  close(): Promise<void>;
}

/** How a batch's results are stored, as kept in the batch's metadata in Redis. */
export type SinkSpec = { readonly kind: 'postgres'; readonly url: string } | { readonly kind: 'files'; readonly dir: string };

export async function openSink(spec: SinkSpec): Promise<ResultSink> {
  if (spec.kind === 'postgres') return (await import('./postgres.js')).createPostgresSink(spec.url);
  return (await import('./files.js')).createFileSink(spec.dir);
}
