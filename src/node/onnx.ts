import * as ort from 'onnxruntime-node';
import { fixedInputSize, loadError, ortBackend } from '../core/ort-backend.js';
import type { InferenceBackend, SessionOptions } from '../core/platform.js';

export type { SessionOptions };

function nodeSessionOptions(options: SessionOptions): ort.InferenceSession.SessionOptions {
  return {
    intraOpNumThreads: options.threads ?? 0,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    logSeverityLevel: 3,
  };
}

/** onnxruntime-node as the analyzer's inference backend. */
export const nodeBackend: InferenceBackend = ortBackend(ort, 'onnxruntime-node', nodeSessionOptions);

/** Creates an ONNX Runtime session with quiet logging; errors name the model file. */
export async function createSession(modelPath: string, options: SessionOptions = {}): Promise<ort.InferenceSession> {
  try {
    return await ort.InferenceSession.create(modelPath, nodeSessionOptions(options));
  } catch (cause) {
    throw loadError(cause, modelPath);
  }
}

export { fixedInputSize, ort };
