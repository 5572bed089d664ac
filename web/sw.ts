/**
 * The web app's service worker: every same-origin file (app, runtime, models) is answered from the
 * cache when the network is unreachable, so the app works offline after one visit.
 */
interface FetchEventLike extends Event {
  readonly request: Request;
  respondWith(response: Promise<Response>): void;
}

const CACHE = 'facesense-app-v1';

self.addEventListener('fetch', (event) => {
  const e = event as FetchEventLike;
  const url = new URL(e.request.url);
  // Model files are cached (and checksummed) by facesense/web itself.
  if (e.request.method !== 'GET' || url.origin !== location.origin || url.pathname.endsWith('.onnx')) return;
  e.respondWith(
    (async () => {
      const cache = await caches.open(CACHE);
      try {
        const response = await fetch(e.request);
        if (response.ok) await cache.put(e.request, response.clone());
        return response;
      } catch (cause) {
        const hit = await cache.match(e.request);
        if (hit !== undefined) return hit;
        throw cause;
      }
    })(),
  );
});
