/**
 * The browser model source: models are fetched by URL from `baseUrl` (`<id>.json` + its `.onnx`,
 * and detector weights by file name), checked against their sha256 with SubtleCrypto, and kept in
 * the Cache API so a second visit (or an offline one) reads them from disk.
 */
import { ModelError } from '../core/errors.js';
import { validateManifest } from '../core/models/manifest.js';
import type { FileEntry, ModelSource, SourcedModel } from '../core/platform.js';

/** One progress report while a model file downloads; `totalBytes` is absent without a Content-Length. */
export interface WebDownloadProgress {
  readonly id: string;
  readonly url: string;
  readonly loadedBytes: number;
  readonly totalBytes?: number;
  /** True when the bytes came from the Cache API (no download). */
  readonly cached: boolean;
}

export interface WebModelSourceOptions {
  /** Where `<id>.json`, `<id>.onnx` and detector weights are served, e.g. `/models/`. */
  readonly baseUrl: string;
  /** Cache API cache to keep model files in; `false` to fetch every time. @default 'facesense-models-v1' */
  readonly cacheName?: string | false;
  readonly onProgress?: (event: WebDownloadProgress) => void;
  /** @default globalThis.fetch */
  readonly fetch?: typeof fetch;
}

function hex(buf: ArrayBuffer): string {
  return [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

export function createWebModelSource(options: WebModelSourceOptions): ModelSource {
  const base = new URL(options.baseUrl, globalThis.location?.href);
  const doFetch = options.fetch ?? ((input: RequestInfo | URL, init?: RequestInit) => fetch(input, init));
  const cacheName = options.cacheName ?? 'facesense-models-v1';
  const openCache = async (): Promise<Cache | undefined> => (cacheName === false || typeof caches === 'undefined' ? undefined : caches.open(cacheName).catch(() => undefined));

  async function download(id: string, url: string): Promise<Uint8Array> {
    let response: Response;
    try {
      response = await doFetch(url);
    } catch (cause) {
      throw new ModelError('DOWNLOAD_FAILED', `cannot fetch (${cause instanceof Error ? cause.message : String(cause)}); check modelBaseUrl and that the page can reach it`, { source: url, cause });
    }
    if (response.status === 404) throw new ModelError('MODEL_NOT_FOUND', `model "${id}" is not served here (HTTP 404); copy its files under modelBaseUrl`, { source: url });
    if (!response.ok || response.body === null) throw new ModelError('DOWNLOAD_FAILED', `HTTP ${response.status} fetching model "${id}"`, { source: url });
    const length = Number(response.headers.get('content-length'));
    const total = Number.isFinite(length) && length > 0 ? length : undefined;
    const chunks: Uint8Array[] = [];
    let loaded = 0;
    const reader = response.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      loaded += value.byteLength;
      options.onProgress?.({ id, url, loadedBytes: loaded, ...(total === undefined ? {} : { totalBytes: total }), cached: false });
    }
    const bytes = new Uint8Array(loaded);
    let at = 0;
    for (const c of chunks) {
      bytes.set(c, at);
      at += c.byteLength;
    }
    return bytes;
  }

  /** The file's bytes, from the cache or the network; a sha256 mismatch is never cached or used. */
  async function bytesOf(id: string, url: string, sha256: string | undefined): Promise<Uint8Array> {
    const cache = await openCache();
    const hit = await cache?.match(url);
    let bytes: Uint8Array;
    let fromCache = false;
    if (hit !== undefined) {
      bytes = new Uint8Array(await hit.arrayBuffer());
      fromCache = true;
      options.onProgress?.({ id, url, loadedBytes: bytes.byteLength, totalBytes: bytes.byteLength, cached: true });
    } else {
      bytes = await download(id, url);
    }
    if (sha256 !== undefined) {
      const actual = hex(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
      if (actual !== sha256.toLowerCase()) {
        if (fromCache) await cache?.delete(url);
        throw new ModelError('CHECKSUM_MISMATCH', `file for "${id}" does not match its checksum: expected sha256 ${sha256.toLowerCase()}, got ${actual}; the server has a different or damaged file`, { source: url });
      }
    }
    if (!fromCache) await cache?.put(url, new Response(bytes as Uint8Array<ArrayBuffer>, { headers: { 'content-type': 'application/octet-stream' } })).catch(() => undefined);
    return bytes;
  }

  async function resolveModel(id: string): Promise<SourcedModel> {
    const manifestUrl = new URL(`${id}.json`, base).href;
    let response: Response;
    try {
      response = await doFetch(manifestUrl);
    } catch (cause) {
      throw new ModelError('DOWNLOAD_FAILED', `cannot fetch the manifest (${cause instanceof Error ? cause.message : String(cause)})`, { source: manifestUrl, cause });
    }
    if (response.status === 404) throw new ModelError('MODEL_NOT_FOUND', `no model "${id}" under ${base.href} (HTTP 404)`, { source: manifestUrl });
    if (!response.ok) throw new ModelError('DOWNLOAD_FAILED', `HTTP ${response.status} fetching the manifest of "${id}"`, { source: manifestUrl });
    let value: unknown;
    try {
      value = await response.json();
    } catch (cause) {
      throw new ModelError('MODEL_INVALID', 'manifest is not valid JSON', { source: manifestUrl, cause });
    }
    const manifest = validateManifest(value, manifestUrl);
    const modelUrl = new URL(manifest.file ?? `${manifest.id}.onnx`, manifestUrl).href;
    return { id: manifest.id, manifest, model: await bytesOf(manifest.id, modelUrl, manifest.sha256) };
  }

  async function resolveFile(entry: FileEntry): Promise<Uint8Array> {
    return bytesOf(entry.id, new URL(entry.file, base).href, entry.sha256);
  }

  return { resolveModel, resolveFile };
}
