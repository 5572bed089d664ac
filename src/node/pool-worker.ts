/** One worker thread of src/node/pool.ts: an in-process analyzer answering the pool's requests. */
import { parentPort, workerData } from 'node:worker_threads';
import type { StageTimings } from '../core/analyzer.js';
import { FacesenseError, serialiseError } from '../core/errors.js';
import { createAnalyzer, type NodeAnalyzerOptions } from './analyzer.js';
import type { CropItemData, PoolReply, PoolRequest } from './pool.js';

const port = parentPort!;
const post = (m: PoolReply) => port.postMessage(m);

try {
  const analyzer = await createAnalyzer(workerData as NodeAnalyzerOptions);
  port.on('message', (req: PoolRequest) => {
    void answer(req).then(post, (e: unknown) =>
      post(e instanceof FacesenseError ? { id: req.id, kind: 'error', error: serialiseError(e) } : { id: req.id, kind: 'bug', message: e instanceof Error ? (e.stack ?? e.message) : String(e) }),
    );
  });
  post({ kind: 'ready', detectorName: analyzer.detectorName, tasks: analyzer.tasks });

  async function answer(req: PoolRequest): Promise<PoolReply> {
    if (req.kind === 'analyze') return { id: req.id, kind: 'result', result: await analyzer.analyze(req.input, req.options) };
    let timings: StageTimings | undefined;
    const items = await analyzer.classifyCropsSettled(req.inputs, { ...(req.tta === undefined ? {} : { tta: req.tta }), onTimings: (t) => (timings = t) });
    const data: CropItemData[] = items.map((it) => (it.ok ? it : { ok: false, source: it.source, error: serialiseError(it.error) }));
    return { id: req.id, kind: 'crops', items: data, timings: timings! };
  }
} catch (e) {
  post({ kind: 'fatal', error: e instanceof FacesenseError ? serialiseError(e) : e instanceof Error ? e.message : String(e) });
}
