/** Messages between `facesense/web` on the page and its inference worker: plain, structured-clonable data. */
import type { Analyzer, AnalyzeOptions, AnalyzerOptions, DetectorName, ImageResult, StageTimings } from '../core/analyzer.js';
import { DatasetError, FacesenseError, ImageDecodeError, ModelError, OptionError, VideoError, type ErrorCode } from '../core/errors.js';
import type { TaskResult } from '../core/postprocess.js';
import type { RawImage } from '../core/types.js';
import type { WebDownloadProgress } from './model-source.js';
import type { WebBackendInfo, WebPlatformOptions } from './platform.js';

/** Analyzer options that can cross to a worker (a detector object cannot). */
export type PortableAnalyzerOptions = Omit<AnalyzerOptions, 'detector'> & { readonly detector?: DetectorName };

export type ToWorker =
  | { readonly type: 'init'; readonly platform: Omit<WebPlatformOptions, 'onProgress'>; readonly analyzer: PortableAnalyzerOptions }
  | { readonly type: 'analyze'; readonly id: number; readonly image: RawImage; readonly options: Omit<AnalyzeOptions, 'signal'> }
  | { readonly type: 'crops'; readonly id: number; readonly images: readonly RawImage[]; readonly tta?: boolean }
  | { readonly type: 'dispose'; readonly id: number };

export interface ReadyInfo {
  readonly detectorName: string;
  readonly tasks: Analyzer['tasks'];
  readonly backend: WebBackendInfo;
}

export interface SerialisedError {
  readonly name: string;
  readonly code?: ErrorCode;
  readonly message: string;
  readonly source?: string;
}

export type FromWorker =
  | { readonly type: 'ready'; readonly info: ReadyInfo }
  | { readonly type: 'progress'; readonly event: WebDownloadProgress }
  | { readonly type: 'result'; readonly id: number; readonly result: ImageResult }
  | { readonly type: 'crops'; readonly id: number; readonly results: Record<string, TaskResult>[]; readonly timings?: StageTimings }
  | { readonly type: 'disposed'; readonly id: number }
  | { readonly type: 'error'; readonly id?: number; readonly error: SerialisedError };

export function serialiseError(e: unknown): SerialisedError {
  if (e instanceof FacesenseError) {
    const prefix = e.source === undefined ? '' : `${e.source}: `;
    const message = e.message.startsWith(prefix) ? e.message.slice(prefix.length) : e.message;
    return { name: e.name, code: e.code, message, ...(e.source === undefined ? {} : { source: e.source }) };
  }
  return { name: e instanceof Error ? e.name : 'Error', message: e instanceof Error ? e.message : String(e) };
}

/** The typed error again on the page side, so `instanceof ModelError` and `code` work as in Node. */
export function reviveError(s: SerialisedError): Error {
  if (s.code === undefined) return Object.assign(new Error(s.message), { name: s.name });
  const opts = s.source === undefined ? {} : { source: s.source };
  switch (s.name) {
    case 'OptionError':
      return new OptionError(s.message);
    case 'ImageDecodeError':
      return new ImageDecodeError(s.code, s.message, opts);
    case 'ModelError':
      return new ModelError(s.code, s.message, opts);
    case 'DatasetError':
      return new DatasetError(s.code, s.message, opts);
    case 'VideoError':
      return new VideoError(s.code, s.message, opts);
    default:
      return new FacesenseError(s.code, s.message, opts);
  }
}
