/**
 * `facesense/jobs`: the work behind the CLI's `analyze`, `video` and `eval` and the HTTP service,
 * as plain functions (options objects, AbortSignal, progress callbacks) for a service, a worker
 * or a script. Node only (files, ffmpeg, sharp, onnxruntime-node). Output locations are checked
 * before any work; a batch yields its items in the order the inputs were listed.
 */
export { analyzeItem, annotatedPath, batchDocument, checkBatchOutputs, runBatch, type BatchDocument, type BatchEntry, type BatchJobOptions, type BatchProgress } from './batch.js';
export { runVideoJob, type VideoJobHooks, type VideoJobOptions, type VideoJobResult, type VideoJobStart } from './video.js';
export { ALL_SPLITS, runEvaluation, writeEvalReport, type EvalHooks, type EvalOptions, type EvalOutcome } from './eval.js';
export { csvHeader, csvLine, csvRows, itemToJson, type OutputFormat } from '../core/format.js';
