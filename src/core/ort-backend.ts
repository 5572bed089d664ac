/**
 * An InferenceBackend over any ONNX Runtime JavaScript build: onnxruntime-node and onnxruntime-web
 * share onnxruntime-common's API, so each platform passes its module and its session options and
 * this one adapter converts tensors at the seam. Only types are imported here.
 */
import type * as Ort from 'onnxruntime-common';
import { ModelError } from './errors.js';
import type { InferenceBackend, InferenceSession, ModelData, SessionOptions } from './platform.js';

/** The parts of an onnxruntime module the adapter uses. */
export interface OrtModule {
  readonly InferenceSession: { create(model: string | Uint8Array, options?: Ort.InferenceSession.SessionOptions): Promise<Ort.InferenceSession> };
  readonly Tensor: new (type: 'float32', data: Float32Array, dims: readonly number[]) => Ort.Tensor;
}

export function ortBackend(ort: OrtModule, name: string, sessionOptions: (options: SessionOptions) => Ort.InferenceSession.SessionOptions): InferenceBackend {
  return {
    name,
    async createSession(model: ModelData, options: SessionOptions & { readonly sourceName: string }): Promise<InferenceSession> {
      let session: Ort.InferenceSession;
      try {
        session = await ort.InferenceSession.create(model, sessionOptions(options));
      } catch (cause) {
        throw loadError(cause, options.sourceName);
      }
      return wrapSession(ort, session);
    },
  };
}

/** The ModelError for a model ONNX Runtime refuses to load. */
export function loadError(cause: unknown, source: string): ModelError {
  return new ModelError('MODEL_INVALID', `ONNX Runtime cannot load the model (${cause instanceof Error ? cause.message.split('\n')[0] : String(cause)})`, { source, cause });
}

/** Static input dims of a session's first input, or undefined where a dim is symbolic. */
export function fixedInputSize(session: Ort.InferenceSession): { width: number; height: number } | undefined {
  const meta = session.inputMetadata[0];
  if (meta === undefined || !meta.isTensor) return undefined;
  const [, , h, w] = meta.shape;
  return typeof h === 'number' && typeof w === 'number' && h > 0 && w > 0 ? { width: w, height: h } : undefined;
}

function wrapSession(ort: OrtModule, session: Ort.InferenceSession): InferenceSession {
  return {
    inputNames: session.inputNames,
    outputNames: session.outputNames,
    inputShape(name) {
      const meta = session.inputMetadata.find((m) => m.name === name);
      return meta?.isTensor === true ? meta.shape : undefined;
    },
    fixedInputSize: fixedInputSize(session),
    async run(feeds, outputNames) {
      const tensors: Record<string, Ort.Tensor> = {};
      for (const [k, v] of Object.entries(feeds)) tensors[k] = new ort.Tensor('float32', v.data, v.dims);
      const out = outputNames === undefined ? await session.run(tensors) : await session.run(tensors, [...outputNames]);
      const result: Record<string, { data: Float32Array; dims: readonly number[] }> = {};
      for (const [k, t] of Object.entries(out)) result[k] = { data: t.data as Float32Array, dims: t.dims };
      return result;
    },
    release: () => session.release(),
  };
}
