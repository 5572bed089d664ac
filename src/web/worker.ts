/**
 * The inference worker of `facesense/web`: one analyzer on onnxruntime-web, off the page's main
 * thread so a page never freezes while a model runs. The page decodes images (it owns the DOM
 * sources) and sends RGB pixels; results come back as plain objects.
 */
import { createAnalyzerWith, type Analyzer, type StageTimings } from '../core/analyzer.js';
import { fromRaw } from '../core/raw-image.js';
import type { RawImage } from '../core/types.js';
import { serialiseError, type FromWorker, type ToWorker } from './protocol.js';
import { webPlatform } from './platform.js';

interface WorkerScope {
  postMessage(message: FromWorker, transfer?: Transferable[]): void;
  addEventListener(type: 'message', listener: (event: MessageEvent<ToWorker>) => void): void;
}

const scope = globalThis as unknown as WorkerScope;
let analyzer: Promise<Analyzer<RawImage>> | undefined;

scope.addEventListener('message', (event) => {
  const msg = event.data;
  if (msg.type === 'init') {
    analyzer = (async () => {
      const { platform, info } = await webPlatform({ ...msg.platform, onProgress: (e) => scope.postMessage({ type: 'progress', event: e }) });
      // Pixels arrive already decoded by the page: the worker's decode stage only checks them.
      const a = await createAnalyzerWith<RawImage>({ ...platform, decode: async (image, opts) => fromRaw(image, opts) }, msg.analyzer);
      scope.postMessage({ type: 'ready', info: { detectorName: a.detectorName, tasks: a.tasks, backend: info } });
      return a;
    })();
    analyzer.catch((e: unknown) => scope.postMessage({ type: 'error', error: serialiseError(e) }));
    return;
  }
  const current = analyzer;
  if (current === undefined) {
    scope.postMessage({ type: 'error', id: msg.id, error: { name: 'Error', message: 'worker not initialised' } });
    return;
  }
  if (msg.type === 'analyze') {
    current
      .then((a) => a.analyze(msg.image, msg.options))
      .then(
        (result) => scope.postMessage({ type: 'result', id: msg.id, result }),
        (e: unknown) => scope.postMessage({ type: 'error', id: msg.id, error: serialiseError(e) }),
      );
  } else if (msg.type === 'crops') {
    // The batch's stage timings go back with the results, for the page's `onTimings`.
    let timings: StageTimings | undefined;
    const onTimings = (t: StageTimings) => (timings = t);
    current
      .then((a) => a.classifyCrops(msg.images, { ...(msg.tta === undefined ? {} : { tta: msg.tta }), onTimings }))
      .then(
        (results) => scope.postMessage({ type: 'crops', id: msg.id, results, ...(timings === undefined ? {} : { timings }) }),
        (e: unknown) => scope.postMessage({ type: 'error', id: msg.id, error: serialiseError(e) }),
      );
  } else {
    current.then((a) => a.dispose()).then(
      () => scope.postMessage({ type: 'disposed', id: msg.id }),
      (e: unknown) => scope.postMessage({ type: 'error', id: msg.id, error: serialiseError(e) }),
    );
  }
});
