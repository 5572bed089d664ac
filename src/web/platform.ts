/** The browser platform: onnxruntime-web (WASM, or WebGPU where the browser has it), canvas decoding, URL + Cache API models. */
import * as ortWasm from 'onnxruntime-web/wasm';
import { ortBackend, type OrtModule } from '../core/ort-backend.js';
import type { InferenceBackend, Platform } from '../core/platform.js';
import { decodeWebImage, type WebImageInput } from './decode.js';
import { createWebModelSource, type WebDownloadProgress } from './model-source.js';

export type WebBackendName = 'wasm' | 'webgpu';

export interface WebPlatformOptions {
  /** Where model manifests, `.onnx` files and detector weights are served. */
  readonly modelBaseUrl: string;
  /** Execution provider wanted; WebGPU falls back to WASM (and says so) where the browser has none. @default 'wasm' */
  readonly backend?: WebBackendName;
  /** Where onnxruntime-web's `.wasm`/`.mjs` files are served. @default beside the script that imports onnxruntime-web */
  readonly wasmPaths?: string;
  /**
   * WASM threads. Threads need a cross-origin isolated page (COOP/COEP headers).
   * @default min(4, hardwareConcurrency) when the page is cross-origin isolated, else 1
   */
  readonly threads?: number;
  /** Cache API cache for model files, or false. @default 'facesense-models-v1' */
  readonly cacheName?: string | false;
  readonly onProgress?: (event: WebDownloadProgress) => void;
}

/** What the platform ended up running on, for the page to show. */
export interface WebBackendInfo {
  readonly requested: WebBackendName;
  readonly backend: WebBackendName;
  readonly threads: number;
  readonly crossOriginIsolated: boolean;
  /** Why the requested backend is not the one used, when it is not. */
  readonly fallback?: string;
}

async function hasWebGpu(): Promise<boolean> {
  const gpu = (globalThis.navigator as { gpu?: { requestAdapter(): Promise<unknown> } } | undefined)?.gpu;
  if (gpu === undefined) return false;
  try {
    return (await gpu.requestAdapter()) !== null;
  } catch {
    return false;
  }
}

export async function createWebBackend(options: WebPlatformOptions): Promise<{ backend: InferenceBackend; info: WebBackendInfo }> {
  const requested = options.backend ?? 'wasm';
  const isolated = globalThis.crossOriginIsolated === true;
  const threads = options.threads ?? (isolated ? Math.max(1, Math.min(4, globalThis.navigator?.hardwareConcurrency ?? 1)) : 1);
  let ort: typeof ortWasm = ortWasm;
  let backend: WebBackendName = 'wasm';
  let fallback: string | undefined;
  if (requested === 'webgpu') {
    if (await hasWebGpu()) {
      ort = await import('onnxruntime-web/webgpu');
      backend = 'webgpu';
    } else {
      fallback = 'this browser exposes no WebGPU adapter; running on WASM';
    }
  }
  ort.env.wasm.numThreads = threads;
  if (options.wasmPaths !== undefined) ort.env.wasm.wasmPaths = options.wasmPaths;
  ort.env.logLevel = 'error';
  const providers = backend === 'webgpu' ? ['webgpu', 'wasm'] : ['wasm'];
  const inference = ortBackend(ort as unknown as OrtModule, `onnxruntime-web/${backend}`, () => ({ executionProviders: providers, graphOptimizationLevel: 'all' }));
  return { backend: inference, info: { requested, backend, threads, crossOriginIsolated: isolated, ...(fallback === undefined ? {} : { fallback }) } };
}

/** Everything the core analyzer needs, from the browser. */
export async function webPlatform(options: WebPlatformOptions): Promise<{ platform: Platform<WebImageInput>; info: WebBackendInfo }> {
  const { backend, info } = await createWebBackend(options);
  const models = createWebModelSource({
    baseUrl: options.modelBaseUrl,
    ...(options.cacheName === undefined ? {} : { cacheName: options.cacheName }),
    ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
  });
  return { platform: { backend, decode: decodeWebImage, models }, info };
}
