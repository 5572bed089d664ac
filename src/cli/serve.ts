import { access, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { OptionError } from '../core/errors.js';
import { parseNumberOption, RULES, type NumberRule } from '../core/validate.js';
import { analysisOptionsFromArgs } from '../batch/options.js';
import { segmentOptions } from './options.js';

export const SERVE_USAGE = `Usage: facesense serve [options]

An HTTP service for images, videos and live streams (see README, "HTTP service"; the API is
described at /openapi.json and /docs).

Options:
  --host HOST             address to listen on (default: 127.0.0.1)
  --port N                port (default: 8080; 0 picks a free one)
  --api-key KEY           accept this API key (repeatable; default: no authentication)
  --api-keys-file FILE    accept the keys in FILE, one a line
  --max-body BYTES        largest image request (default: 20971520)
  --max-video BYTES       largest video upload (default: 536870912)
  --max-video-sec S       longest video (default: 600)
  --pixel-limit N         largest decoded image in pixels (default: 40000000)
  --concurrency N         analyses at once (default: 2)
  --queue N               analyses waiting beyond those; more get 503 (default: 32 × concurrency)
  --max-queue-wait MS     refuse an image request with 503 + Retry-After when its estimated wait
                          for a slot (the work ahead, from measured service times) is over MS,
                          and drop one admitted that still waits MS (default: 100; 0: only
                          while a slot is free; off: --queue alone)
  --timeout-ms N          an image request's deadline from its arrival: past it, 503 TIMEOUT and
                          its analysis stops; also the longest time to receive a request (default: 30000)
  --data-dir DIR          video jobs' files and state (default: ./facesense-data)
  --job-ttl-sec S         finished jobs are deleted after S seconds (default: 86400)
  --video-slots N         video jobs analysed at once (default: 1)
  --jobs-per-client N     unfinished video jobs per API key or address; more get 429 (default: 4)
  --cors-origin ORIGIN    allow this origin (repeatable; * for any; default: no CORS)
  --tasks a,b             default tasks (default: every installed default task)
  --model ID|PATH         default extra model (repeatable)
  --detector NAME         default detector: yunet | yunet-640 | viola-jones | none (default: yunet)
  --threads N             ONNX Runtime threads per model (default: one per core)
  --models-dir DIR        where models are looked up first (default: $FACESENSE_MODELS)
  --max-event-loop-delay MS
                          answer 503 while the event loop lags more than MS (default: 1000; 0: off)
  --web-app DIR           the built browser web app, served at / (default: the package's
                          dist/web-app when built with npm run web:build; without one, /
                          answers a pointer to /docs)
  --log-level LEVEL       pino level: fatal|error|warn|info|debug|silent (default: info)

Video jobs on a queue (BullMQ on Redis, see README "Batches beyond one machine"):
  --redis URL             enqueue each uploaded video as time segments for \`facesense worker\`
                          processes (any number, any machine) instead of analysing it here;
                          the server stitches their tracks into the job's rows, summary and
                          timeline. Uploads and segment results live in --data-dir, which must
                          then be SHARED STORAGE that every worker reads and writes at the same
                          absolute path (NFS, SMB, a cluster filesystem, or one machine).
                          The queue dashboard (Bull Board) is served at /admin/queues, behind
                          the same API keys. Not with annotate or sequence-model requests (400).
  --queue-name NAME       BullMQ queue (default: facesense, as the workers')
  --segment-sec S         video segment length (default: 60)
  --overlap-sec S         seconds each segment also analyses before its start, to link tracks
                          (default: 0.5)
  -h, --help              this text

SIGINT/SIGTERM: stops taking requests, finishes those in flight, leaves video jobs queued on disk
for the next start.`;

/** `--max-queue-wait`: milliseconds ≥ 0, or `off` (the hard `--queue` bound alone). */
function maxQueueWait(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (v === 'off') return Number.POSITIVE_INFINITY;
  if (!/^\d+$/.test(v)) throw new OptionError(`--max-queue-wait must be milliseconds (0 or more) or off (got "${v}")`);
  return Number(v);
}

export async function runServe(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '8080' },
      'api-key': { type: 'string', multiple: true },
      'api-keys-file': { type: 'string' },
      'max-body': { type: 'string' },
      'max-video': { type: 'string' },
      'max-video-sec': { type: 'string' },
      'pixel-limit': { type: 'string' },
      concurrency: { type: 'string' },
      queue: { type: 'string' },
      'max-queue-wait': { type: 'string' },
      'timeout-ms': { type: 'string' },
      'data-dir': { type: 'string', default: 'facesense-data' },
      'job-ttl-sec': { type: 'string' },
      'video-slots': { type: 'string' },
      'jobs-per-client': { type: 'string' },
      'cors-origin': { type: 'string', multiple: true },
      tasks: { type: 'string' },
      model: { type: 'string', multiple: true },
      detector: { type: 'string' },
      threads: { type: 'string' },
      'models-dir': { type: 'string' },
      'max-event-loop-delay': { type: 'string' },
      'log-level': { type: 'string', default: 'info' },
      'web-app': { type: 'string' },
      redis: { type: 'string' },
      'queue-name': { type: 'string' },
      'segment-sec': { type: 'string' },
      'overlap-sec': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${SERVE_USAGE}\n`);
    return 0;
  }
  // Every number is checked strictly (an OptionError naming the flag) before anything starts.
  const num = (k: keyof typeof values, rule: NumberRule) => parseNumberOption(k, values[k] as string | undefined, rule);
  const count = (k: keyof typeof values, max = Number.MAX_SAFE_INTEGER) => num(k, { min: 1, max, integer: true });
  const port = num('port', RULES.port)!;
  // The analysis defaults go through the same builder as analyze, video and batch; without --detector the server's default stays.
  const analysis = analysisOptionsFromArgs(values);
  const threads = num('threads', RULES.threads);
  if (values.redis === undefined && (values['segment-sec'] ?? values['overlap-sec'] ?? values['queue-name']) !== undefined) throw new OptionError('--segment-sec, --overlap-sec and --queue-name need --redis URL');
  const queueOpts = values.redis === undefined ? undefined : { url: values.redis, ...segmentOptions(values['segment-sec'], values['overlap-sec']), ...(values['queue-name'] === undefined ? {} : { name: values['queue-name'] }) };
  const keys = [...(values['api-key'] ?? [])];
  if (values['api-keys-file'] !== undefined) {
    const text = await readFile(values['api-keys-file'], 'utf8').catch((e: NodeJS.ErrnoException) => {
      throw new OptionError(`--api-keys-file ${values['api-keys-file']}: cannot read it (${e.code ?? e.message})`);
    });
    keys.push(...text.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#')));
    if (keys.length === 0) throw new OptionError(`--api-keys-file ${values['api-keys-file']} has no keys`);
  }
  const opt = <K extends string, V>(k: K, v: V | undefined) => (v === undefined ? {} : ({ [k]: v } as Record<K, V>));
  // dist/src/cli/serve.js → dist/web-app: used only when it was built.
  const builtApp = fileURLToPath(new URL('../../web-app/', import.meta.url));
  const webApp = values['web-app'] ?? (await access(`${builtApp}index.html`).then(() => builtApp, () => undefined));
  const { createServer } = await import('../server/app.js');
  const server = await createServer({
    host: values.host,
    port,
    ...(keys.length === 0 ? {} : { apiKeys: keys }),
    ...opt('maxBodyBytes', count('max-body')),
    ...opt('maxVideoBytes', count('max-video')),
    ...opt('maxVideoSec', count('max-video-sec', 31_536_000)),
    ...opt('pixelLimit', analysis.pixelLimit),
    ...opt('concurrency', num('concurrency', RULES.concurrency)),
    ...opt('maxQueue', count('queue', 1_000_000)),
    ...opt('maxQueueWaitMs', maxQueueWait(values['max-queue-wait'])),
    // Node's timers hold at most 2^31 − 1 ms.
    ...opt('requestTimeoutMs', count('timeout-ms', 2_147_483_647)),
    dataDir: values['data-dir'],
    ...opt('jobTtlSec', count('job-ttl-sec', 2_147_483)),
    ...opt('videoSlots', num('video-slots', RULES.concurrency)),
    ...opt('jobsPerClient', count('jobs-per-client', 1_000_000)),
    ...opt('corsOrigins', values['cors-origin']),
    ...opt('tasks', analysis.tasks),
    ...opt('models', analysis.models),
    ...opt('detector', values.detector === undefined ? undefined : analysis.detector),
    ...opt('threads', threads),
    ...opt('modelsDir', analysis.modelsDir),
    ...opt('maxEventLoopDelayMs', num('max-event-loop-delay', { min: 0, max: 3_600_000, integer: true })),
    ...opt('queue', queueOpts),
    ...opt('webAppDir', webApp),
    logger: values['log-level'] === 'silent' ? false : { level: values['log-level'] },
  });
  const url = await server.listen();
  process.stderr.write(`facesense serve: listening on ${url} (docs at ${url}/docs)\n`);
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      process.stderr.write(`facesense serve: ${signal}, draining\n`);
      process.off('SIGINT', stop).off('SIGTERM', stop);
      void server.close().then(resolve, (e: unknown) => {
        process.stderr.write(`facesense serve: error while closing: ${String(e)}\n`);
        resolve();
      });
    };
    process.on('SIGINT', stop).on('SIGTERM', stop);
  });
  return 0;
}
