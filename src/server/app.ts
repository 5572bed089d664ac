/**
 * `facesense serve`: the HTTP service. One Fastify instance per `createServer` call (no module
 * state): routes for images (`/v1/analyze`), video jobs (`/v1/videos`, `/v1/jobs/…`), a live
 * WebSocket stream (`/v1/stream`), models, health, metrics and the OpenAPI document. Results are
 * written by the same code as the CLI's (src/jobs/batch.ts, src/core/format.ts, src/core/video/rows.ts).
 */
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform, type Readable } from 'node:stream';
import cors from '@fastify/cors';
import multipart from '@fastify/multipart';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import underPressure from '@fastify/under-pressure';
import websocket from '@fastify/websocket';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import sharp from 'sharp';
import type { Analyzer, BatchItem, DetectorName } from '../core/analyzer.js';
import { FacesenseError, isFacesenseError, OptionError } from '../core/errors.js';
import { analyzeItem, batchDocument } from '../jobs/batch.js';
import { createModelStore } from '../node/models/store.js';
import { findStaticFile, ISOLATION_HEADERS } from '../node/static-server.js';
import { createAnalysisQueue, type AnalysisQueue } from './queue.js';
import { createAnalyzerPool, type AnalyzerPool } from './pool.js';
import { createJobManager, JOB_ID, type JobManager, type JobRecord } from './jobs.js';
import { createMetrics, type Metrics } from './metrics.js';
import { imageOptions, type RawOptions } from './options.js';
import { fromFrameworkError, httpError, statusOf, type ErrorBody } from './errors.js';
import { registerStream } from './stream.js';
import { ROUTE_SCHEMAS } from './schemas.js';
import type { QueueRunnerOptions } from './queue-runner.js';

export interface ServerOptions {
  /** @default '127.0.0.1' */
  readonly host?: string;
  /** 0 picks a free port. @default 8080 */
  readonly port?: number;
  /** Keys accepted in `X-API-Key` or `Authorization: Bearer`; none: no authentication. */
  readonly apiKeys?: readonly string[];
  /** Largest image request body (a raw image or a whole multipart request). @default 20 MiB */
  readonly maxBodyBytes?: number;
  /** Largest video upload. @default 512 MiB */
  readonly maxVideoBytes?: number;
  /** Images per multipart request. @default 32 */
  readonly maxFiles?: number;
  /** Analyses running at once. @default 2 */
  readonly concurrency?: number;
  /** Analyses waiting beyond those; more are refused with 503 (the hard bound). @default 32 × concurrency */
  readonly maxQueue?: number;
  /**
   * Latency-aware admission: an image request whose estimated wait for a slot (the work running
   * and queued ahead of it, from measured service times) is over this is refused with 503 and a
   * computed Retry-After; one admitted that still waits this long is dropped with 503, unrun.
   * Infinity: the hard bound `maxQueue` only. @default 100 ms
   */
  readonly maxQueueWaitMs?: number;
  /**
   * Deadline of an image request from its arrival, waiting and analysis together: past it the
   * request is answered 503 TIMEOUT and its analysis stops at its next stage (its slot freed).
   * Also the longest time to receive a request. @default 30 s
   */
  readonly requestTimeoutMs?: number;
  /** Largest decoded image. @default 40 MP */
  readonly pixelLimit?: number;
  /** Longest video (or chosen range). @default 600 s */
  readonly maxVideoSec?: number;
  /** Where video jobs live. @default ./facesense-data */
  readonly dataDir?: string;
  /** Finished video jobs are deleted after this long. @default 86400 s */
  readonly jobTtlSec?: number;
  /** Video jobs analysed at once. @default 1 */
  readonly videoSlots?: number;
  /** Unfinished video jobs per client (API key or address); more get 429. @default 4 */
  readonly jobsPerClient?: number;
  /** Default model configuration (each request may ask for another). */
  readonly detector?: DetectorName;
  readonly tasks?: readonly string[];
  readonly models?: readonly string[];
  readonly threads?: number;
  readonly modelsDir?: string;
  /** Origins allowed by CORS (`*` for any); none: no CORS headers. */
  readonly corsOrigins?: readonly string[];
  /** pino options, or false for no logs. @default { level: 'info' } */
  readonly logger?: boolean | { readonly level?: string; readonly stream?: NodeJS.WritableStream };
  /** Event-loop delay at which new requests get 503 (under-pressure); 0: off. @default 1000 ms */
  readonly maxEventLoopDelayMs?: number;
  /** The built web app (`npm run web:build`: dist/web-app), served at `/`; none: `/` points to the docs. */
  readonly webAppDir?: string;
  /**
   * Video jobs on a BullMQ queue (`facesense serve --redis`): analysed by `facesense worker`
   * processes as time segments, stitched here. `dataDir` must then be storage every worker shares.
   * The queue dashboard (Bull Board) is mounted at /admin/queues.
   */
  readonly queue?: QueueRunnerOptions;
}

export interface FacesenseServer {
  readonly app: FastifyInstance;
  /** Starts listening; returns the base URL. */
  listen(): Promise<string>;
  /** Stops taking requests, drains those in flight, stops video jobs (left queued on disk) and frees the models. */
  close(): Promise<void>;
}

const MiB = 1024 * 1024;
/** Video jobs a server with a queue watches at once (each costs a poll of Redis every 500 ms). */
const QUEUE_WATCHED = 1000;
/** Where the queue dashboard (Bull Board) is mounted with --redis. */
export const DASHBOARD = '/admin/queues';
/** Default admission budget: with a 640×480 one-face photo's ~45 ms service time on 2 cores, p99 at capacity stays under 250 ms (README, bench:serve). */
export const DEFAULT_MAX_QUEUE_WAIT_MS = 100;
/** Routes anyone may call, also with API keys configured: probes, scraping and the API's own description. */
const PUBLIC = [/^\/healthz$/, /^\/readyz$/, /^\/metrics$/, /^\/openapi\.json$/, /^\/docs(\/|$)/];

/** Pixels of an image from its header (cheap: nothing is decoded); undefined when it cannot be read (the analysis will say why). */
async function pixelsOf(bytes: Buffer): Promise<number | undefined> {
  try {
    const m = await sharp(bytes, { limitInputPixels: false }).metadata();
    return m.width !== undefined && m.height !== undefined ? m.width * m.height : undefined;
  } catch {
    return undefined;
  }
}

/** Constant-time check of a presented key against every configured key (all compared, no early exit). */
export function keyMatches(presented: string, keys: readonly Buffer[]): boolean {
  const p = createHash('sha256').update(presented).digest();
  let ok = false;
  for (const k of keys) ok = timingSafeEqual(p, k) || ok;
  return ok;
}

export async function createServer(options: ServerOptions = {}): Promise<FacesenseServer> {
  const maxBody = options.maxBodyBytes ?? 20 * MiB;
  const maxVideo = options.maxVideoBytes ?? 512 * MiB;
  const concurrency = options.concurrency ?? 2;
  const timeoutMs = options.requestTimeoutMs ?? 30_000;
  const keyDigests = (options.apiKeys ?? []).map((k) => createHash('sha256').update(k).digest());
  const store = options.modelsDir === undefined ? {} : { modelsDir: options.modelsDir };
  const webAppDir = options.webAppDir === undefined ? undefined : path.resolve(options.webAppDir);
  // A web app that was asked for but is not there is the operator's error, found at start.
  if (webAppDir !== undefined && (await findStaticFile([webAppDir], 'index.html')) === undefined) {
    throw new OptionError(`--web-app ${options.webAppDir}: no index.html there; build it with npm run web:build (dist/web-app)`);
  }

  const app = Fastify({
    logger:
      options.logger === false
        ? false
        : {
            level: (typeof options.logger === 'object' ? options.logger.level : undefined) ?? 'info',
            ...(typeof options.logger === 'object' && options.logger.stream !== undefined ? { stream: options.logger.stream } : {}),
            redact: ['req.headers.authorization', 'req.headers["x-api-key"]'],
          },
    // A client's own request id is kept (to follow a request across services) when it looks like one.
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && /^[\w.:-]{1,128}$/.test(given) ? given : randomUUID();
    },
    bodyLimit: maxBody,
    requestTimeout: timeoutMs,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
  });
  const metrics: Metrics = createMetrics();
  const maxQueueWaitMs = options.maxQueueWaitMs ?? DEFAULT_MAX_QUEUE_WAIT_MS;
  const queue: AnalysisQueue = createAnalysisQueue({ concurrency, maxWaiting: options.maxQueue ?? 32 * concurrency, maxWaitMs: maxQueueWaitMs });
  metrics.watchQueue(queue);
  const pool: AnalyzerPool = createAnalyzerPool(
    { ...(options.threads === undefined ? {} : { threads: options.threads }), pixelLimit: options.pixelLimit ?? 40_000_000, store },
    { ...(options.detector === undefined ? {} : { detector: options.detector }), ...(options.tasks === undefined ? {} : { tasks: options.tasks }), ...(options.models === undefined ? {} : { models: options.models }) },
  );
  // Loading fails loudly at start (a missing model is an operator error, not a request's).
  const defaultAnalyzer: Analyzer = await pool.defaultAnalyzer;
  const dataDir = path.resolve(options.dataDir ?? 'facesense-data');
  // Loaded only when asked for: a server without a queue does not load BullMQ.
  const queueRunner =
    options.queue === undefined
      ? undefined
      : (await import('./queue-runner.js')).createQueueRunner({
          ...options.queue,
          dataDir,
          pool,
          pixelLimit: options.pixelLimit ?? 40_000_000,
          ...(options.modelsDir === undefined ? {} : { modelsDir: options.modelsDir }),
          maxDurationSec: options.maxVideoSec ?? 600,
        });
  const jobs: JobManager = createJobManager({
    dataDir,
    ...(queueRunner === undefined ? {} : { runner: queueRunner }),
    pool,
    store,
    ...(options.threads === undefined ? {} : { threads: options.threads }),
    // With a queue a job "runs" while the server watches it; the workers decide how many are analysed at once.
    ...(queueRunner !== undefined ? { slots: QUEUE_WATCHED } : options.videoSlots === undefined ? {} : { slots: options.videoSlots }),
    ...(options.jobsPerClient === undefined ? {} : { perOwner: options.jobsPerClient }),
    ttlMs: (options.jobTtlSec ?? 86_400) * 1000,
    maxDurationSec: options.maxVideoSec ?? 600,
    onEvent: (event, job, detail) => {
      metrics.jobEvent(event);
      app.log[event === 'crashed' ? 'error' : 'info']({ job: job.id, state: job.state, ...(detail === undefined ? {} : { err: detail }) }, `video job ${event}`);
    },
  });
  await jobs.init();
  const queueDashboard = queueRunner?.queue;
  metrics.watchJobs(jobs);
  let closing = false;

  app.addHook('onSend', async (req, reply) => {
    reply.header('x-request-id', req.id);
  });
  app.addHook('onResponse', async (req, reply) => metrics.observe(req, reply));

  app.setErrorHandler((e: unknown, req, reply) => {
    const err = isFacesenseError(e) ? e : fromFrameworkError(e as { code?: string; statusCode?: number; message: string });
    const status = statusOf(err.code);
    if (status >= 500 && !isFacesenseError(e)) req.log.error({ err: e }, 'unexpected error');
    return sendError(reply, err, status);
  });
  app.setNotFoundHandler((req, reply) => sendError(reply, httpError('NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0]}`), 404));

  function sendError(reply: FastifyReply, err: FacesenseError, status = statusOf(err.code)): FastifyReply {
    metrics.error(err.code);
    if (status === 503 || status === 429) reply.header('retry-after', String(queue.retryAfterSec()));
    // Refused before its body was read: the rest of that body must not be read as the next request on a kept-alive connection.
    const raw = reply.request.raw;
    if (!raw.complete) {
      // A refusal to come back later (503, 429) of a body nobody has started reading is read and thrown away
      // (up to --max-body), so the client gets its answer and Retry-After rather than a broken pipe mid-upload,
      // and keeps its connection; any other (a declared size over the limit, a wrong type) closes it.
      if ((status === 503 || status === 429) && raw.readableFlowing === null && !(Number(raw.headers['content-length']) > maxBody)) discardBody(raw, reply.raw, maxBody);
      else reply.header('connection', 'close');
    }
    const body: ErrorBody = { error: err.toJSON(), requestId: String(reply.request.id) };
    return reply.code(status).type('application/json; charset=utf-8').send(JSON.stringify(body));
  }

  if (options.corsOrigins !== undefined && options.corsOrigins.length > 0) {
    await app.register(cors, { origin: options.corsOrigins.includes('*') ? '*' : [...options.corsOrigins], exposedHeaders: ['x-request-id', 'retry-after', 'location'] });
  }
  await app.register(underPressure, {
    // 0 turns the check off (under-pressure's own convention).
    maxEventLoopDelay: options.maxEventLoopDelayMs ?? 1000,
    retryAfter: 1,
    exposeStatusRoute: false,
    pressureHandler: (_req, reply, type, value) => {
      sendError(reply, new FacesenseError('OVERLOADED', `the server is under pressure (${type} ${value?.toFixed(0) ?? ''}); retry later`), 503);
    },
  });
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'facesense', version: '0.1.0', description: 'Face attribute analysis over HTTP: images, video jobs and a live WebSocket stream. Results are the facesense CLI\'s JSON/CSV.' },
      components: { securitySchemes: { apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key' }, bearer: { type: 'http', scheme: 'bearer' } } },
      ...(keyDigests.length > 0 ? { security: [{ apiKey: [] }, { bearer: [] }] } : {}),
    },
    // Binary request bodies are described for the document only: Fastify does not validate them.
    transform: ({ schema, url }) => {
      const s = { ...(schema as Record<string, unknown>) };
      if (s['x-body'] !== undefined) {
        s.body = s['x-body'];
        delete s['x-body'];
      }
      return { schema: s, url };
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  await app.register(multipart, { limits: { fileSize: maxBody, files: options.maxFiles ?? 32, fields: 64, fieldSize: 64 * 1024, parts: (options.maxFiles ?? 32) + 64 } });
  await app.register(websocket, { options: { maxPayload: maxBody } });

  app.addHook('onRequest', async (req, reply) => {
    if (closing && !req.url.startsWith('/healthz')) return sendError(reply, new FacesenseError('DISPOSED', 'the server is shutting down; retry on another instance'), 503);
    if (keyDigests.length === 0 || PUBLIC.some((p) => p.test(req.url.split('?')[0]!)) || (req.routeOptions.config as { public?: boolean }).public === true) return;
    const auth = req.headers.authorization;
    const presented = typeof req.headers['x-api-key'] === 'string' ? req.headers['x-api-key'] : auth?.startsWith('Bearer ') === true ? auth.slice(7) : undefined;
    if (presented === undefined || !keyMatches(presented, keyDigests)) {
      reply.header('www-authenticate', 'Bearer');
      return sendError(reply, httpError('UNAUTHORIZED', presented === undefined ? 'an API key is required (X-API-Key header or Authorization: Bearer)' : 'the API key is not valid'), 401);
    }
  });
  if (queueDashboard !== undefined) {
    // Behind the API keys like every non-public route (the onRequest hook above), and kept out of the OpenAPI document.
    const [{ createBullBoard }, { BullMQAdapter }, { FastifyAdapter }] = await Promise.all([import('@bull-board/api'), import('@bull-board/api/bullMQAdapter'), import('@bull-board/fastify')]);
    const board = new FastifyAdapter();
    createBullBoard({ queues: [new BullMQAdapter(queueDashboard)], serverAdapter: board });
    board.setBasePath(DASHBOARD);
    await app.register(async (scope) => {
      scope.addHook('onRoute', (r) => {
        r.schema = { ...r.schema, hide: true };
      });
      await scope.register(board.registerPlugin(), { prefix: DASHBOARD });
    });
  }
  /** Who a request belongs to, for per-client limits: a digest of its key, else its address. */
  const clientOf = (req: FastifyRequest) => {
    const auth = req.headers.authorization;
    const key = typeof req.headers['x-api-key'] === 'string' ? req.headers['x-api-key'] : auth?.startsWith('Bearer ') === true ? auth.slice(7) : undefined;
    return key === undefined ? `ip:${req.ip}` : `key:${createHash('sha256').update(key).digest('hex').slice(0, 16)}`;
  };

  // ---- images
  await app.register(async (scope) => {
    for (const type of ['application/octet-stream', /^image\//]) scope.addContentTypeParser(type, { parseAs: 'buffer', bodyLimit: maxBody }, (_req, body, done) => done(null, body));
    scope.post(
      '/v1/analyze',
      {
        schema: ROUTE_SCHEMAS.analyze,
        // Refused before the body is read: under overload a refusal must cost next to nothing.
        onRequest: async (req) => {
          queue.admit();
          // Options and models in the query (all of them, for a raw image) are checked before the body is read.
          await pool.use(imageOptions(req.query as RawOptions).choice, async () => undefined);
        },
      },
      async (req, reply) => {
        const inputs: { name: string; bytes: Buffer }[] = [];
        let raw: RawOptions = req.query as RawOptions;
        if (req.isMultipart()) {
          const fields: Record<string, string[]> = {};
          let total = 0;
          for await (const part of req.parts()) {
            if (part.type === 'file') {
              const bytes = await part.toBuffer();
              // Each file is limited by the plugin; the request as a whole by --max-body too.
              total += bytes.length;
              if (total > maxBody) throw httpError('BODY_TOO_LARGE', `the files of this request add up to more than ${maxBody} bytes; send fewer per request`);
              inputs.push({ name: part.filename || `${part.fieldname}#${inputs.length}`, bytes });
            } else (fields[part.fieldname] ??= []).push(String(part.value));
          }
          raw = { ...raw, ...fields };
          if (inputs.length === 0) throw httpError('INPUT_EMPTY', 'the multipart request has no file part; send images as file fields');
        } else {
          if (req.body === undefined && req.headers['content-length'] === '0') throw httpError('INPUT_EMPTY', 'the request body is empty; send an image');
          if (!Buffer.isBuffer(req.body)) throw httpError('UNSUPPORTED_MEDIA_TYPE', `send the image as the raw body (image/*, application/octet-stream) or several as multipart/form-data (got ${req.headers['content-type'] ?? 'no content type'})`);
          const q = req.query as Record<string, unknown>;
          inputs.push({ name: typeof q.name === 'string' && q.name !== '' ? q.name : 'upload', bytes: req.body });
        }
        const o = imageOptions(raw);
        const accept = req.headers.accept ?? '';
        const format = o.format ?? (/\btext\/csv\b/.test(accept) ? 'csv' : /\bapplication\/x-ndjson\b/.test(accept) ? 'jsonl' : 'json');
        // The request's deadline (from its arrival) and its client going away both end its wait or stop its analysis.
        const stop = new AbortController();
        const deadline = setTimeout(() => stop.abort(httpError('TIMEOUT', `the request took longer than the server's limit of ${timeoutMs} ms; its analysis was stopped. Retry later, or send a smaller image or fewer per request`)), Math.max(0, timeoutMs - reply.elapsedTime));
        const gone = () => reply.raw.writableFinished || stop.abort(new FacesenseError('CANCELLED', 'the client closed the connection'));
        reply.raw.once('close', gone);
        let started = false;
        const callOpts = { detect: o.detect, ...(o.tta === undefined ? {} : { tta: o.tta }), signal: stop.signal };
        let answer: { items: BatchItem[]; tasks: Analyzer['tasks'] };
        try {
          // Each file's cost for admission is its pixel count, read from its header (an unreadable one costs the mean).
          const pixels = await Promise.all(inputs.map((i) => pixelsOf(i.bytes)));
          answer = await pool.use(o.choice, async (analyzer) => {
            // Admitted as a whole, in the same step as its files are queued (nothing slips in between): the
            // later files of a batch are not refused for the wait their siblings make.
            queue.admit();
            const [admittedAt, expectedWaitMs] = [performance.now(), queue.estimatedWaitMs()];
            const analyses = inputs.map((i, k) =>
              queue.run(
                async () => {
                  // Before the request is answered: how well admission predicted its wait (debug level: free when off).
                  if (!started && (req.log.level === 'debug' || req.log.level === 'trace')) req.log.debug({ arrivedMsAgo: Math.round(reply.elapsedTime), expectedWaitMs: Math.round(expectedWaitMs), waitedMs: Math.round(performance.now() - admittedAt), serviceMs: Math.round(queue.serviceMs(pixels[k])) }, 'analysis starts');
                  started = true;
                  const item = await analyzeItem(analyzer, i.bytes, i.name, callOpts);
                  // The request was answered already: say whether the analysis stopped early or ran to its end.
                  if (stop.signal.aborted) metrics.abandoned(!item.ok && item.error.code === 'ABORTED' ? 'stopped' : 'completed');
                  return item;
                },
                undefined,
                // The first file's wait is bounded by the budget (the later ones wait for their siblings, part of the same request).
                { ...(pixels[k] === undefined ? {} : { pixels: pixels[k] }), signal: stop.signal, admitted: true, sample: (it) => it.ok, ...(k === 0 ? { dropAfterMs: maxQueueWaitMs } : {}) },
              ),
            );
            return { tasks: analyzer.tasks, items: await Promise.all(analyses) };
          });
        } catch (e) {
          if (isFacesenseError(e) && e.code === 'TIMEOUT') metrics.timeout(started ? 'running' : 'waiting');
          throw e;
        } finally {
          clearTimeout(deadline);
          reply.raw.off('close', gone);
        }
        const { items, tasks } = answer;
        for (const it of items) metrics.analysed(it, req.isMultipart());
        // One raw image that fails is the request's failure; in a multipart batch each file answers for itself.
        const only = items[0]!;
        if (!req.isMultipart() && !only.ok) return sendError(reply, only.error);
        const doc = batchDocument(format, tasks);
        return reply.type(doc.contentType).send(doc.head() + items.map((it: BatchItem) => doc.item(it)).join('') + doc.tail());
      },
    );
  });

  // ---- video jobs
  await app.register(async (scope) => {
    // The upload streams to disk: never held in memory.
    for (const type of ['application/octet-stream', /^video\//]) scope.addContentTypeParser(type, (_req, payload, done) => done(null, payload));
    scope.post(
      '/v1/videos',
      {
        schema: ROUTE_SCHEMAS.videos,
        bodyLimit: maxVideo,
        // An unknown model, task or sequence model in the query is refused before the upload is read.
        onRequest: async (req) => jobs.check(req.query as RawOptions),
      },
      async (req, reply) => {
        let raw: RawOptions = req.query as RawOptions;
        let source = typeof (req.query as Record<string, unknown>).name === 'string' ? String((req.query as Record<string, unknown>).name) : 'upload';
        let upload: Readable;
        if (req.isMultipart()) {
          const file = await req.file({ limits: { fileSize: maxVideo, files: 1 } });
          if (file === undefined) throw httpError('INPUT_EMPTY', 'the multipart request has no file part; send the video as a file field');
          source = file.filename || source;
          const fields = Object.fromEntries(Object.values(file.fields).flatMap((f) => (f !== undefined && !Array.isArray(f) && f.type === 'field' ? [[f.fieldname, String(f.value)]] : [])));
          raw = { ...raw, ...fields };
          upload = file.file;
        } else {
          if (req.body === undefined && req.headers['content-length'] === '0') throw httpError('INPUT_EMPTY', 'the request body is empty; send a video');
          if (req.body === undefined || req.body === null || Buffer.isBuffer(req.body) || typeof (req.body as Readable).pipe !== 'function') {
            throw httpError('UNSUPPORTED_MEDIA_TYPE', `send the video as the raw body (video/*, application/octet-stream) or as multipart/form-data (got ${req.headers['content-type'] ?? 'no content type'})`);
          }
          const declared = Number(req.headers['content-length'] ?? Number.NaN);
          if (declared > maxVideo) throw httpError('BODY_TOO_LARGE', `the video is ${declared} bytes, over the limit of ${maxVideo}`);
          upload = req.body as Readable;
        }
        let stopCounting = (): void => undefined;
        if (req.isMultipart()) {
          // A chunked multipart body has no declared size, and past its file-size limit busboy drops
          // bytes without ending the part: the request may not send more than the upload limit plus
          // room for the multipart envelope, past that the upload fails with 413. (The request is
          // already flowing into busboy; a raw body is bounded by the count in the pipeline below.)
          stopCounting = whenBodyPasses(req.raw, maxVideo + MULTIPART_ENVELOPE_BYTES, () => upload.destroy(httpError('BODY_TOO_LARGE', `the request is over the video limit of ${maxVideo} bytes`)));
        }
        const job = await jobs.create(source, raw, clientOf(req), async (file) => {
          let n = 0;
          const limit = new Transform({
            transform(chunk: Buffer, _enc, cb) {
              n += chunk.length;
              cb(n > maxVideo ? httpError('BODY_TOO_LARGE', `the video is over the limit of ${maxVideo} bytes`) : null, chunk);
            },
          });
          await pipeline(upload, limit, createWriteStream(file));
          if ((upload as { truncated?: boolean }).truncated === true) throw httpError('BODY_TOO_LARGE', `the video is over the limit of ${maxVideo} bytes`);
          if (n === 0) throw httpError('INPUT_EMPTY', 'the upload is empty');
        }).catch((e: unknown) => {
          // A refused upload is read to its end and dropped (left unread, a multipart request stalls
          // its keep-alive connection), but only up to the upload limit again: a client that goes
          // on sending (a chunked body has no declared end) loses its connection.
          stopCounting();
          discardBody(req.raw, reply.raw, maxVideo, upload);
          throw e;
        });
        return reply.code(202).header('location', `/v1/jobs/${job.id}`).send(jobView(job));
      },
    );
  });

  const jobOf = (req: FastifyRequest): JobRecord => {
    const id = (req.params as { id: string }).id;
    const job = JOB_ID.test(id) ? jobs.get(id) : undefined;
    if (job === undefined) throw httpError('NOT_FOUND', `no video job ${id} (it may have expired)`);
    return job;
  };
  const jobView = (j: JobRecord) => {
    // The owner digest is for the per-client limit, not for clients.
    const { owner, ...view } = j;
    void owner;
    return { ...view, links: { self: `/v1/jobs/${j.id}`, rows: `/v1/jobs/${j.id}/rows`, summary: `/v1/jobs/${j.id}/summary`, timeline: `/v1/jobs/${j.id}/timeline`, annotated: `/v1/jobs/${j.id}/annotated` } };
  };
  const sendFile = async (reply: FastifyReply, path: string, type: string) => {
    const s = await stat(path).catch(() => undefined);
    if (s === undefined) throw httpError('NOT_FOUND', 'that output does not exist for this job');
    return reply.type(type).header('content-length', String(s.size)).send(createReadStream(path));
  };
  const needDone = (j: JobRecord) => {
    if (j.state !== 'done') throw new FacesenseError('NOT_FOUND', `job ${j.id} is ${j.state}; this output exists once it is done`);
  };
  app.get('/v1/jobs/:id', { schema: ROUTE_SCHEMAS.job }, async (req) => jobView(jobOf(req)));
  app.get('/v1/jobs/:id/rows', { schema: ROUTE_SCHEMAS.rows }, async (req, reply) => {
    const j = jobOf(req);
    const q = req.query as { format?: string };
    const csv = q.format === 'csv' || (q.format === undefined && /\btext\/csv\b/.test(req.headers.accept ?? ''));
    // Rows are written as frames are analysed: a running job gives the rows so far.
    return sendFile(reply, jobs.file(j.id, csv ? 'rows.csv' : 'rows.jsonl'), csv ? 'text/csv; charset=utf-8' : 'application/x-ndjson; charset=utf-8');
  });
  app.get('/v1/jobs/:id/summary', { schema: ROUTE_SCHEMAS.jobFile }, async (req, reply) => {
    const j = jobOf(req);
    needDone(j);
    return sendFile(reply, jobs.file(j.id, 'summary.json'), 'application/json; charset=utf-8');
  });
  app.get('/v1/jobs/:id/timeline', { schema: ROUTE_SCHEMAS.jobFile }, async (req, reply) => {
    const j = jobOf(req);
    needDone(j);
    return sendFile(reply, jobs.file(j.id, 'timeline.html'), 'text/html; charset=utf-8');
  });
  app.get('/v1/jobs/:id/annotated', { schema: ROUTE_SCHEMAS.jobFile }, async (req, reply) => {
    const j = jobOf(req);
    needDone(j);
    return sendFile(reply, jobs.file(j.id, 'annotated.mp4'), 'video/mp4');
  });
  app.delete('/v1/jobs/:id', { schema: ROUTE_SCHEMAS.cancel }, async (req, reply) => {
    const j = jobOf(req);
    const what = await jobs.cancel(j.id);
    return what === 'deleted' ? reply.code(204).send() : reply.send(jobView(j));
  });

  // ---- live stream
  registerStream(app, { pool, queue, metrics, timeoutMs, pixelLimit: options.pixelLimit ?? 40_000_000 });

  // ---- models, health, metrics, OpenAPI
  const modelStore = createModelStore(store);
  app.get('/v1/models', { schema: ROUTE_SCHEMAS.models }, async () => {
    const ids = [...new Set(defaultAnalyzer.tasks.map((t) => t.model))];
    const models = await Promise.all(
      ids.map(async (id) => {
        const { manifest: m } = await modelStore.resolveModel(id);
        return {
          id: m.id,
          ...(m.description === undefined ? {} : { description: m.description }),
          tasks: m.outputs.map((out) => ({ task: out.task, labels: out.labels, default: defaultAnalyzer.tasks.some((t) => t.task === out.task && t.model === m.id) })),
          input: { width: m.input.width, height: m.input.height, channels: m.input.channels },
          ...(m.metrics === undefined ? {} : { metrics: m.metrics }),
          ...(m.licence === undefined ? {} : { licence: m.licence }),
          ...(m.training?.terms === undefined ? {} : { terms: m.training.terms }),
          ...(m.training?.data === undefined ? {} : { data: m.training.data }),
        };
      }),
    );
    return { detector: defaultAnalyzer.detectorName, tasks: defaultAnalyzer.tasks.map((t) => ({ task: t.task, model: t.model, kind: t.kind, labels: t.labels })), models };
  });
  app.get('/healthz', { schema: ROUTE_SCHEMAS.health }, async () => ({ status: 'ok' }));
  app.get('/readyz', { schema: ROUTE_SCHEMAS.health }, async (_req, reply) => {
    if (closing || queue.full) return reply.code(503).header('retry-after', String(queue.retryAfterSec())).send({ status: closing ? 'closing' : 'at capacity', queue: { active: queue.active, waiting: queue.waiting } });
    return { status: 'ready', queue: { active: queue.active, waiting: queue.waiting }, jobs: jobs.counts() };
  });
  app.get('/metrics', { schema: ROUTE_SCHEMAS.metrics }, async (_req, reply) => reply.type(metrics.contentType).send(await metrics.text()));
  app.get('/openapi.json', { schema: ROUTE_SCHEMAS.openapi }, async () => app.swagger());

  // ---- the browser web app: public static files (no analysis happens here), cross-origin isolated for WASM threads
  const sendStatic = async (reply: FastifyReply, rel: string) => {
    const found = webAppDir === undefined ? undefined : await findStaticFile([webAppDir], rel);
    if (found === undefined) return sendError(reply, httpError('NOT_FOUND', `no file ${rel} in the web app`), 404);
    return reply.headers({ ...ISOLATION_HEADERS, 'content-type': found.type, 'content-length': String(found.size), 'cache-control': 'no-cache' }).send(createReadStream(found.path));
  };
  app.get('/', { schema: ROUTE_SCHEMAS.root, config: { public: true } }, async (_req, reply) =>
    webAppDir === undefined
      ? { service: 'facesense', webApp: 'not installed (npm run web:build, then facesense serve --web-app dist/web-app)', docs: '/docs', openapi: '/openapi.json', models: '/v1/models' }
      : sendStatic(reply, 'index.html'),
  );
  if (webAppDir !== undefined) {
    // The app's assets are files, not API operations: kept out of the OpenAPI document.
    app.get('/*', { schema: { hide: true }, config: { public: true } }, async (req, reply) => {
      let rel: string;
      try {
        rel = decodeURIComponent(req.url.split('?')[0]!.slice(1));
      } catch {
        return sendError(reply, httpError('NOT_FOUND', 'the path is not valid URL encoding'), 404);
      }
      return sendStatic(reply, rel);
    });
  }

  await app.ready();
  return {
    app,
    async listen() {
      return app.listen({ host: options.host ?? '127.0.0.1', port: options.port ?? 8080 });
    },
    async close() {
      if (closing) return;
      closing = true;
      // In-flight requests finish (Fastify waits for them); new ones get 503. Video jobs stop and stay queued on disk.
      await jobs.close();
      await app.close();
      await queue.drained();
      await pool.dispose();
    },
  };
}

/** What a multipart video request may carry besides the file: boundaries, part headers, option fields. */
const MULTIPART_ENVELOPE_BYTES = 1024 * 1024;

/**
 * Reads and drops the rest of a request's body; one that goes on past `limit` more bytes loses its
 * connection, once its response (`res`) is out. `consumer`: a stream the body is piped into (a
 * multipart file part), kept flowing too.
 */
function discardBody(raw: FastifyRequest['raw'], res: FastifyReply['raw'], limit: number, consumer?: Readable): void {
  whenBodyPasses(raw, limit, () => {
    raw.pause();
    const hangUp = () => raw.socket.destroy();
    if (res.writableFinished) hangUp();
    else res.once('close', hangUp);
  });
  consumer?.resume();
  raw.resume();
}

/**
 * Counts the body bytes `raw` delivers from now on and calls `act` once, when they pass `limit`.
 * Only for a request already flowing or about to be resumed: a data listener starts the flow.
 * Returns what stops the count.
 */
function whenBodyPasses(raw: FastifyRequest['raw'], limit: number, act: () => void): () => void {
  let seen = 0;
  const count = (chunk: Buffer) => {
    seen += chunk.length;
    if (seen <= limit) return;
    raw.off('data', count);
    act();
  };
  raw.on('data', count);
  return () => raw.off('data', count);
}
