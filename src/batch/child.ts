/**
 * A `batch run` worker process: loads one analyzer and analyses the paths its parent sends over
 * IPC, one result record per path. It exits when the parent goes away (even after kill -9).
 */
import type { Analyzer } from '../core/analyzer.js';
import { createAnalyzer } from '../node/analyzer.js';
import { FacesenseError } from '../core/errors.js';
import { recordOf } from '../results/records.js';
import { toAnalyzerOptions } from './options.js';
import type { ChildReply, ParentMessage } from './pool.js';

let analyzer: Analyzer | undefined;
const send = (m: ChildReply) => process.send?.(m);

process.on('disconnect', () => process.exit(0));
process.on('message', (m: ParentMessage) => {
  void handle(m);
});

async function handle(m: ParentMessage): Promise<void> {
  if (m.type === 'init') {
    try {
      analyzer = await createAnalyzer(toAnalyzerOptions(m.options, m.threads));
      send({ type: 'ready', tasks: analyzer.tasks.map((t) => ({ task: t.task, model: t.model, labels: t.labels })) });
    } catch (e) {
      send({ type: 'fatal', error: e instanceof FacesenseError ? e.toJSON() : { code: 'MODEL_INVALID', message: String(e) } });
    }
    return;
  }
  const a = analyzer!;
  try {
    const result = await a.analyze(m.path);
    send({ type: 'done', id: m.id, record: recordOf({ ok: true, source: m.path, result }) });
  } catch (e) {
    // A bug, not bad input: crash, so the parent retries the input once and then records WORKER_CRASHED.
    if (!(e instanceof FacesenseError)) throw e;
    send({ type: 'done', id: m.id, record: recordOf({ ok: false, source: m.path, error: e }) });
  }
}
