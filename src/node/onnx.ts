import * as ort from 'onnxruntime-node';
import { ModelError } from '../core/errors.js';

export interface SessionOptions {
  /** Threads ONNX Runtime may use inside one operator. @default 0 (ONNX Runtime decides: one per core) */
  readonly threads?: number;
}

/** Creates an ONNX Runtime session with quiet logging; errors name the model file. */
export async function createSession(modelPath: string, options: SessionOptions = {}): Promise<ort.InferenceSession> {
  try {
    return await ort.InferenceSession.create(modelPath, {
      intraOpNumThreads: options.threads ?? 0,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
      executionMode: 'sequential',
      logSeverityLevel: 3,
    });
  } catch (cause) {
    throw new ModelError('MODEL_INVALID', `ONNX Runtime cannot load the model (${cause instanceof Error ? cause.message.split('\n')[0] : String(cause)})`, { source: modelPath, cause });
  }
}

/** Static input dims of a session's first input, or undefined where a dim is symbolic. */
export function fixedInputSize(session: ort.InferenceSession): { width: number; height: number } | undefined {
  const meta = session.inputMetadata[0];
  if (meta === undefined || !meta.isTensor) return undefined;
  const [, , h, w] = meta.shape;
  return typeof h === 'number' && typeof w === 'number' && h > 0 && w > 0 ? { width: w, height: h } : undefined;
}

export { ort };
