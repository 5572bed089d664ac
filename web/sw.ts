/**
 * The web app's service worker: on install it caches every file of the app (the list the build
 * writes to precache.json: pages, scripts, onnxruntime-web's runtime, manifests), then takes over
 * open pages, so the app works offline after the first visit. Requests go to the network first
 * (an update is picked up) and fall back to the cache when it is unreachable.
 */
interface ExtendableEventLike extends Event {
  waitUntil(p: Promise<unknown>): void;
}
interface FetchEventLike extends ExtendableEventLike {
  readonly request: Request;
  respondWith(response: Promise<Response>): void;
}
interface WorkerGlobalLike {
  skipWaiting(): Promise<void>;
  readonly clients: { claim(): Promise<void> };
}

const CACHE = 'facesense-app-v1';
const sw = self as unknown as WorkerGlobalLike;

self.addEventListener('install', (event) => {
  (event as ExtendableEventLike).waitUntil(
    (async () => {
      const files = (await (await fetch('precache.json', { cache: 'no-store' })).json()) as string[];
      const cache = await caches.open(CACHE);
      await cache.addAll(['./', ...files]);
      await sw.skipWaiting();
    })(),
  );
});

self.addEventListener('activate', (event) => (event as ExtendableEventLike).waitUntil(sw.clients.claim()));

self.addEventListener('fetch', (event) => {
  const e = event as FetchEventLike;
  const url = new URL(e.request.url);
  // Model weights are cached (and checksummed) by facesense/web itself.
  if (e.request.method !== 'GET' || url.origin !== location.origin || url.pathname.endsWith('.onnx')) return;
  e.respondWith(
    (async () => {
      const cache = await caches.open(CACHE);
      try {
        const response = await fetch(e.request);
        if (response.ok) await cache.put(e.request, response.clone());
        return response;
      } catch (cause) {
        const hit = await cache.match(e.request, { ignoreSearch: true });
        if (hit !== undefined) return hit;
        throw cause;
      }
    })(),
  );
});
