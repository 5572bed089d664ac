/**
 * `GET /v1/stream`: a WebSocket per live source. Each connection has its own frame analyzer
 * (src/video/stream.ts: tracking and smoothing state between frames); frames go through the same
 * bounded analysis queue as images. A connection holds at most `MAX_PENDING` frames: newer ones
 * are dropped (and said so) rather than queued without bound, which is what a live source wants.
 */
import type { FastifyInstance } from 'fastify';
import type { WebSocket } from 'ws';
import { optionalNumber } from '../cli/options.js';
import { decodeImage } from '../node/decode.js';
import { FacesenseError, ImageDecodeError, OptionError } from '../core/errors.js';
import { parseSmoothing } from '../core/video/smooth.js';
import { createFrameAnalyzer, type FrameAnalyzer } from '../core/video/stream.js';
import type { Metrics } from './metrics.js';
import { imageOptions, type RawOptions } from './options.js';
import type { AnalyzerPool } from './pool.js';
import type { AnalysisQueue } from './queue.js';
import { ROUTE_SCHEMAS } from './schemas.js';
import type { RawImage } from '../core/types.js';

const MAX_PENDING = 2;

export interface StreamDeps {
  readonly pool: AnalyzerPool;
  readonly queue: AnalysisQueue;
  readonly metrics: Metrics;
  readonly timeoutMs: number;
  readonly pixelLimit: number;
}

interface RawHeader {
  readonly width: number;
  readonly height: number;
  readonly channels: 1 | 3 | 4;
  readonly timestampMs?: number;
}

function parseHeader(text: string): RawHeader {
  let h: Record<string, unknown>;
  try {
    h = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new OptionError('a text message must be a JSON frame header {"width","height","channels"?,"timestampMs"?}');
  }
  const channels = h.channels ?? 3;
  if (!Number.isInteger(h.width) || !Number.isInteger(h.height) || (h.width as number) < 1 || (h.height as number) < 1) throw new OptionError('frame header: width and height must be positive integers');
  if (channels !== 1 && channels !== 3 && channels !== 4) throw new OptionError('frame header: channels must be 1, 3 or 4');
  if (h.timestampMs !== undefined && typeof h.timestampMs !== 'number') throw new OptionError('frame header: timestampMs must be a number');
  return { width: h.width as number, height: h.height as number, channels, ...(typeof h.timestampMs === 'number' ? { timestampMs: h.timestampMs } : {}) };
}

export function registerStream(app: FastifyInstance, d: StreamDeps): void {
  // A plain route with a WebSocket handler (not `websocket: true`, which hides it from the OpenAPI document).
  app.route({
    method: 'GET',
    url: '/v1/stream',
    schema: ROUTE_SCHEMAS.stream,
    handler: async (req, reply) =>
      reply
        .code(426)
        .header('upgrade', 'websocket')
        .send({ error: { code: 'INVALID_OPTION', message: 'this route is a WebSocket: connect with an Upgrade: websocket request' }, requestId: String(req.id) }),
    wsHandler: (socket: WebSocket, req) => {
    const send = (msg: Record<string, unknown>) => socket.readyState === socket.OPEN && socket.send(JSON.stringify(msg));
    const fail = (e: unknown, frame?: number) => {
      if (!(e instanceof FacesenseError)) {
        req.log.error({ err: e }, 'stream frame failed');
        e = new FacesenseError('OVERLOADED', 'internal error on this frame');
      }
      d.metrics.error((e as FacesenseError).code);
      send({ type: 'error', ...(frame === undefined ? {} : { frame }), error: (e as FacesenseError).toJSON() });
    };
    let frames: FrameAnalyzer;
    let release: () => void = () => undefined;
    let opts;
    const raw = req.query as RawOptions;
    try {
      opts = imageOptions(raw);
      const one = (k: string) => (typeof raw[k] === 'string' ? (raw[k] as string) : undefined);
      const detectEvery = optionalNumber('detect-every', one('detect-every'));
      const iou = optionalNumber('iou', one('iou'));
      const maxMissed = optionalNumber('max-missed', one('max-missed'));
      const smooth = one('smooth');
      // The analyzer stays referenced (not evicted) for as long as the connection is open.
      const ready = new Promise<FrameAnalyzer>((resolveFrames, rejectFrames) => {
        d.pool
          .use(opts!.choice, (analyzer) => {
            resolveFrames(
              createFrameAnalyzer(analyzer, {
                ...(detectEvery === undefined ? {} : { detectEvery }),
                tracker: { ...(iou === undefined ? {} : { iouThreshold: iou }), ...(maxMissed === undefined ? {} : { maxMissed }) },
                ...(smooth === undefined ? {} : { smoothing: parseSmoothing(smooth) }),
                detect: opts!.detect,
                ...(opts!.tta === undefined ? {} : { tta: opts!.tta }),
                sourceName: 'stream',
              }),
            );
            return new Promise<void>((r) => (release = r));
          })
          .catch(rejectFrames);
      });
      socket.on('close', () => release());
      let pending = 0;
      let header: RawHeader | undefined;
      let seq = 0;
      const t0 = performance.now();
      let lastTs = 0;
      socket.on('message', (data: Buffer, isBinary: boolean) => {
        if (!isBinary) {
          try {
            header = parseHeader(data.toString('utf8'));
          } catch (e) {
            fail(e);
          }
          return;
        }
        const frame = seq++;
        const h = header;
        header = undefined;
        if (pending >= MAX_PENDING) {
          send({ type: 'dropped', frame, reason: `${MAX_PENDING} frames of this stream are still being analysed` });
          return;
        }
        pending++;
        void (async () => {
          try {
            frames ??= await ready;
            let image: RawImage;
            if (h === undefined) image = await decodeImage(data, { pixelLimit: d.pixelLimit, sourceName: `stream frame ${frame}` });
            else {
              if (h.width * h.height > d.pixelLimit) throw new ImageDecodeError('PIXEL_LIMIT_EXCEEDED', `frame is ${h.width}×${h.height}, over the pixel limit`, { source: `stream frame ${frame}` });
              image = { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: h.width, height: h.height, channels: h.channels };
            }
            // Frames without a timestamp get the time since the connection opened, never before the last one.
            const ts = h?.timestampMs ?? Math.max(performance.now() - t0, lastTs);
            lastTs = ts;
            const r = await d.queue.run(() => frames.analyzeFrame(image, ts), d.timeoutMs);
            d.metrics.frame(r.faces.length);
            send({ type: 'frame', frame, ...r });
          } catch (e) {
            fail(e, frame);
          } finally {
            pending--;
          }
        })();
      });
      ready.catch((e: unknown) => {
        fail(e);
        socket.close(1011, 'cannot load the models');
      });
      send({ type: 'ready' });
    } catch (e) {
      fail(e);
      socket.close(1008, 'bad options');
    }
    },
  });
}
