/**
 * The hostile corpus through the HTTP service: a real `facesense serve` process (watched with the
 * replay's memory cap) gets the corpus's image files as raw bodies and between two good photos in
 * multipart batches, its videos as uploads, its bad option values as query fields, and hostile
 * headers, content types and bodies. Verdicts: a typed error body whose status is the code's
 * (src/server/errors.ts), or a graceful answer; a 5xx, a logged unexpected error, a dead or
 * swollen server is a crash; no answer in time a hang; a good part without its result is lost.
 * After each group the server must still answer /healthz and analyse a good photo.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import type { ErrorCode } from '../../src/core/errors.js';
import { statusOf } from '../../src/server/errors.js';
import { spread, watchMemory, type CaseResult, type Verdict, type Watch } from './common.js';
import { BAD_OPTIONS, BAD_VIDEO_OPTIONS, BATCH_IMAGES, TYPED_IMAGES, TYPED_VIDEOS, VALID_IMAGES } from './corpus.js';

export interface ChannelOptions {
  /** The corpus folder (buildCorpus wrote it). */
  readonly dir: string;
  /** Repository root (bin/, dist/). */
  readonly root: string;
  readonly timeoutMs: number;
  readonly memoryMb: number;
  /** About this many cases per group; all when undefined. */
  readonly perGroup?: number;
  readonly filter?: string;
  readonly onResult?: (r: CaseResult) => void;
}

type Judged = { verdict: Verdict; why?: string };

interface HttpCase {
  readonly id: string;
  readonly group: string;
  run(url: string, timeoutMs: number): Promise<Judged>;
}

/** Request bodies over this are refused whole (413): the server runs with this --max-body. */
const MAX_BODY = 8 * 1024 * 1024;

interface Answer {
  readonly status: number;
  readonly body: string;
}
type Sent = Answer | { readonly failed: string; readonly timedOut: boolean };

/** One request with node:http (a streamed body, odd headers); the answer, or why none came. */
export function send(url: string, path: string, o: { method?: string; headers?: Record<string, string | number>; body?: Buffer | string | Readable; timeoutMs: number }): Promise<Sent> {
  return new Promise((done) => {
    let settled = false;
    const finish = (s: Sent) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      done(s);
    };
    const req = request(`${url}${path}`, { method: o.method ?? 'POST', headers: o.headers ?? {} });
    const timer = setTimeout(() => {
      finish({ failed: `no answer within ${o.timeoutMs} ms`, timedOut: true });
      req.destroy();
    }, o.timeoutMs);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      let n = 0;
      res.on('data', (c: Buffer) => (n += c.length) < 16e6 && chunks.push(c));
      res.on('end', () => {
        finish({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') });
        // The server answered (maybe before the whole body was sent): stop sending.
        req.destroy();
      });
      res.on('error', (e) => finish({ failed: `response broken: ${e.message}`, timedOut: false }));
    });
    // A server that answers early (413) and closes can break the upload (EPIPE) just before its answer is read: wait for it briefly.
    req.on('error', (e) => setTimeout(() => finish({ failed: `no answer: ${e.message}`, timedOut: false }), 1000));
    if (o.body instanceof Readable) {
      o.body.on('error', () => req.destroy());
      o.body.pipe(req);
    } else req.end(o.body);
  });
}

/** A multipart/form-data body streamed from files and literal values. */
function multipart(parts: readonly { field: string; filename?: string; path?: string; data?: Buffer | string }[]): { type: string; body: Readable } {
  const boundary = `facesense-hostile-${Date.now().toString(36)}`;
  async function* gen(): AsyncGenerator<Buffer> {
    for (const p of parts) {
      const file = p.filename === undefined ? '' : `; filename="${p.filename}"\r\nContent-Type: application/octet-stream`;
      yield Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${p.field}"${file}\r\n\r\n`);
      if (p.path !== undefined) for await (const c of createReadStream(p.path)) yield c as Buffer;
      else yield Buffer.from(p.data ?? '');
      yield Buffer.from('\r\n');
    }
    yield Buffer.from(`--${boundary}--\r\n`);
  }
  return { type: `multipart/form-data; boundary=${boundary}`, body: Readable.from(gen()) };
}

interface Item {
  ok?: boolean;
  source?: string;
  faces?: unknown[];
  error?: { code?: string; message?: string };
}

function parseJson<T>(text: string): T | undefined {
  try {
    return JSON.parse(text) as T;
  } catch {
    return undefined;
  }
}

/** A refusal: typed when its body names a code and its status is that code's. */
function judgeError(a: Answer, o: { protocolOk?: boolean; naming?: string } = {}): Judged {
  const code = parseJson<{ error?: { code?: string; message?: string } }>(a.body)?.error?.code;
  const message = parseJson<{ error?: { message?: string } }>(a.body)?.error?.message ?? '';
  if (code === undefined) {
    // Node's own HTTP parser answers malformed requests (431, 400, 408) before the application sees them.
    if (o.protocolOk === true && a.status >= 400 && a.status < 500) return { verdict: 'graceful', why: `HTTP ${a.status} from the HTTP layer` };
    return { verdict: a.status >= 500 ? 'crashed' : 'silent', why: `HTTP ${a.status} without a typed error body: ${a.body.slice(0, 200)}` };
  }
  if (a.status >= 500 && a.status !== 503) return { verdict: 'crashed', why: `HTTP ${a.status} ${code}: ${message}` };
  if (a.status !== statusOf(code as ErrorCode)) return { verdict: 'silent', why: `HTTP ${a.status} for ${code}, expected ${statusOf(code as ErrorCode)}` };
  if (o.naming !== undefined && !message.includes(o.naming)) return { verdict: 'silent', why: `${code} does not name ${o.naming}: ${message}` };
  return { verdict: 'typed' };
}

/** No answer: a hang, or a crash — except an upload over the limit that the server cut off by closing the connection (as nginx does). */
function noAnswer(s: Sent, overLimit = false): Judged | undefined {
  if ('failed' in s && !s.timedOut && overLimit && /EPIPE|ECONNRESET/.test(s.failed)) return { verdict: 'graceful', why: `the upload over the limit was cut off (${s.failed})` };
  if ('failed' in s) return { verdict: s.timedOut ? 'hung' : 'crashed', why: s.failed };
  return undefined;
}

const hasFace = (it: Item | undefined) => it?.ok === true && Array.isArray(it.faces) && it.faces.length > 0;

async function isRegular(path: string): Promise<boolean> {
  return stat(path).then((s) => s.isFile(), () => false);
}

/** The cases, built from the corpus's own lists (corpus.ts). */
async function httpCases(dir: string): Promise<HttpCase[]> {
  const f = (n: string) => join(dir, n);
  const good = f('good.jpg');
  const good2 = f('good2.jpg');
  const cases: HttpCase[] = [];
  const images = [...new Set([...TYPED_IMAGES, ...BATCH_IMAGES])];
  // Regular files go over the wire; the special files (FIFOs, sockets, devices) are the client's to read: bounded samples of /dev/zero and /dev/urandom stand for them.
  const files: string[] = [];
  for (const n of images) if (await isRegular(f(n))) files.push(n);
  const zeros = Buffer.alloc(1 << 20);
  const expectTyped = (n: string) => !VALID_IMAGES.has(n);

  // ---- raw bodies
  for (const name of files) {
    cases.push({
      id: `serve-raw:${name}`,
      group: 'raw',
      async run(url, timeoutMs) {
        const size = (await stat(f(name))).size;
        const s = await send(url, `/v1/analyze?tasks=emotion&name=${encodeURIComponent(name)}`, { headers: { 'content-type': 'application/octet-stream', 'content-length': size }, body: createReadStream(f(name)), timeoutMs });
        const none = noAnswer(s, size > MAX_BODY);
        if (none !== undefined) return none;
        const a = s as Answer;
        if (a.status === 200) {
          const item = parseJson<Item[]>(a.body)?.[0];
          if (item?.ok !== true) return { verdict: 'silent', why: `200 without a result: ${a.body.slice(0, 200)}` };
          return expectTyped(name) ? { verdict: 'silent', why: 'a result where a typed error was due' } : { verdict: 'graceful' };
        }
        return judgeError(a);
      },
    });
  }
  for (const [name, body] of [['/dev/zero (1 MiB)', zeros], ['/dev/urandom (1 MiB)', randomBytes(1 << 20)]] as const) {
    cases.push({ id: `serve-raw:${name}`, group: 'raw', run: async (url, timeoutMs) => rawExpectTyped(await send(url, '/v1/analyze?tasks=emotion', { headers: { 'content-type': 'image/jpeg' }, body, timeoutMs })) });
  }

  // ---- multipart: each file between two good photos; the good ones keep their results
  for (const name of files) {
    cases.push({
      id: `serve-multipart:${name}`,
      group: 'multipart',
      async run(url, timeoutMs) {
        const size = (await stat(f(name))).size;
        const m = multipart([
          { field: 'image', filename: 'good.jpg', path: good },
          { field: 'image', filename: name, path: f(name) },
          { field: 'image', filename: 'good2.jpg', path: good2 },
          { field: 'tasks', data: 'emotion' },
        ]);
        const s = await send(url, '/v1/analyze', { headers: { 'content-type': m.type }, body: m.body, timeoutMs });
        const none = noAnswer(s, size > MAX_BODY);
        if (none !== undefined) return none;
        const a = s as Answer;
        // A request over the body limit is refused whole, and says so: the client knows nothing was analysed.
        if (a.status === 413 && size > MAX_BODY - 2 * 1024 * 1024) return judgeError(a);
        if (a.status !== 200) return { verdict: 'lost', why: `HTTP ${a.status} for the whole batch: ${a.body.slice(0, 200)}` };
        const items = parseJson<Item[]>(a.body) ?? [];
        if (items.length !== 3) return { verdict: 'lost', why: `${items.length} items for 3 files` };
        if (!hasFace(items[0]) || !hasFace(items[2])) return { verdict: 'lost', why: `the good photos: ${JSON.stringify([items[0]?.error, items[2]?.error])}` };
        const bad = items[1]!;
        if (bad.ok === true) return expectTyped(name) ? { verdict: 'silent', why: 'a result where a typed error was due' } : { verdict: 'graceful' };
        if (typeof bad.error?.code !== 'string' || bad.error.code === 'INTERNAL') return { verdict: 'crashed', why: `untyped part error: ${JSON.stringify(bad.error)}` };
        return { verdict: 'typed' };
      },
    });
  }
  cases.push({
    id: 'serve-multipart:devices',
    group: 'multipart',
    async run(url, timeoutMs) {
      const m = multipart([
        { field: 'image', filename: 'good.jpg', path: good },
        { field: 'image', filename: 'zero.jpg', data: zeros },
        { field: 'image', filename: 'empty.jpg', data: '' },
        { field: 'image', filename: '../../../etc/passwd', data: 'root:x:0:0' },
        { field: 'image', filename: 'good2.jpg', path: good2 },
      ]);
      const s = await send(url, '/v1/analyze?tasks=emotion&format=jsonl', { headers: { 'content-type': m.type }, body: m.body, timeoutMs });
      const none = noAnswer(s);
      if (none !== undefined) return none;
      const a = s as Answer;
      if (a.status !== 200) return { verdict: 'lost', why: `HTTP ${a.status}: ${a.body.slice(0, 200)}` };
      const items = a.body.split('\n').filter(Boolean).map((l) => parseJson<Item>(l));
      if (items.length !== 5 || !hasFace(items[0]) || !hasFace(items[4])) return { verdict: 'lost', why: `${items.length} records; good ones ${hasFace(items[0])}, ${hasFace(items[4])}` };
      const untyped = items.slice(1, 4).filter((i) => i?.ok !== false || typeof i.error?.code !== 'string');
      return untyped.length > 0 ? { verdict: 'silent', why: `not typed errors: ${JSON.stringify(untyped)}` } : { verdict: 'typed' };
    },
  });

  // ---- videos: hostile uploads end as failed jobs with a typed code (or are refused typed); '-x.mp4' is a valid video
  const videos: string[] = [];
  for (const n of ['-x.mp4', ...TYPED_VIDEOS]) if (await isRegular(f(n))) videos.push(n);
  for (const name of videos) {
    for (const how of ['raw', 'multipart'] as const) {
      if (how === 'multipart' && name === '-x.mp4') continue; // one valid video job is enough
      cases.push({
        id: `serve-video-${how}:${name}`,
        group: 'video',
        async run(url, timeoutMs) {
          const size = (await stat(f(name))).size;
          let s: Sent;
          if (how === 'raw') s = await send(url, `/v1/videos?tasks=emotion&fps=2&name=${encodeURIComponent(name)}`, { headers: { 'content-type': 'video/mp4', 'content-length': size }, body: createReadStream(f(name)), timeoutMs });
          else {
            const m = multipart([{ field: 'fps', data: '2' }, { field: 'tasks', data: 'emotion' }, { field: 'video', filename: name, path: f(name) }]);
            s = await send(url, '/v1/videos', { headers: { 'content-type': m.type }, body: m.body, timeoutMs });
          }
          const none = noAnswer(s);
          if (none !== undefined) return none;
          const a = s as Answer;
          if (a.status !== 202) return judgeError(a);
          const id = parseJson<{ id?: string }>(a.body)?.id;
          if (id === undefined) return { verdict: 'silent', why: `202 without a job id: ${a.body.slice(0, 200)}` };
          const t0 = Date.now();
          for (;;) {
            const js = await send(url, `/v1/jobs/${id}`, { method: 'GET', timeoutMs });
            if ('failed' in js) return noAnswer(js)!;
            const job = parseJson<{ state?: string; error?: { code?: string } }>(js.body);
            if (job?.state === 'done') {
              if (name !== '-x.mp4') return { verdict: 'silent', why: 'the job is done where a typed failure was due' };
              const rows = await send(url, `/v1/jobs/${id}/rows`, { method: 'GET', timeoutMs });
              return 'failed' in rows || rows.body.split('\n').filter(Boolean).length < 2 ? { verdict: 'lost', why: 'no rows for the valid video' } : { verdict: 'graceful' };
            }
            if (job?.state === 'failed' || job?.state === 'cancelled') {
              const code = job.error?.code;
              if (code === undefined || code === 'INTERNAL') return { verdict: 'crashed', why: `job ended ${job.state} with ${JSON.stringify(job.error)}` };
              return name === '-x.mp4' ? { verdict: 'lost', why: `the valid video failed: ${code}` } : { verdict: 'typed' };
            }
            if (Date.now() - t0 > timeoutMs) return { verdict: 'hung', why: `job still ${job?.state} after ${timeoutMs} ms` };
            await new Promise((r) => setTimeout(r, 250));
          }
        },
      });
    }
  }

  // ---- option values: 400 INVALID_OPTION naming the option, before any work
  const REQUEST_OPTIONS = new Set(['--score-threshold', '--max-faces', '--min-face', '--format', '--detector', '--tasks']);
  const goodBytes = await readFile(good);
  for (const [opt, value] of BAD_OPTIONS.filter(([o]) => REQUEST_OPTIONS.has(o))) {
    const name = opt.slice(2);
    cases.push({
      id: `serve-option:${opt}=${value}`,
      group: 'options',
      async run(url, timeoutMs) {
        const s = await send(url, `/v1/analyze?${name}=${encodeURIComponent(value)}`, { headers: { 'content-type': 'image/jpeg' }, body: goodBytes, timeoutMs });
        return noAnswer(s) ?? expectOptionError(s as Answer, name);
      },
    });
  }
  for (const [opt, value] of [...BAD_VIDEO_OPTIONS.filter(([o]) => o !== '--threads'), ['--score-threshold', '-1'], ['--smooth', 'ema:7']] as const) {
    const name = opt.slice(2);
    cases.push({
      id: `serve-video-option:${opt}=${value}`,
      group: 'options',
      async run(url, timeoutMs) {
        const s = await send(url, `/v1/videos?${name}=${encodeURIComponent(value)}`, { headers: { 'content-type': 'video/mp4' }, body: await readFile(f('-x.mp4')), timeoutMs });
        return noAnswer(s) ?? expectOptionError(s as Answer, name);
      },
    });
  }
  cases.push({
    id: 'serve-option:model-path',
    group: 'options',
    run: async (url, timeoutMs) => {
      const s = await send(url, `/v1/analyze?model=${encodeURIComponent(f('models/wrong-size.json'))}`, { headers: { 'content-type': 'image/jpeg' }, body: goodBytes, timeoutMs });
      return noAnswer(s) ?? expectOptionError(s as Answer, 'model');
    },
  });

  // ---- headers, content types, bodies
  const headerCase = (id: string, path: string, o: { method?: string; headers?: Record<string, string | number>; body?: () => Buffer | string | Readable; expect: (a: Answer) => Judged; overLimit?: boolean }) =>
    cases.push({
      id: `serve-header:${id}`,
      group: 'headers',
      run: async (url, timeoutMs) => {
        const s = await send(url, path, { ...(o.method === undefined ? {} : { method: o.method }), ...(o.headers === undefined ? {} : { headers: o.headers }), ...(o.body === undefined ? {} : { body: o.body() }), timeoutMs });
        return noAnswer(s, o.overLimit) ?? o.expect(s as Answer);
      },
    });
  const typedStatus = (status: number) => (a: Answer) => (a.status === status ? judgeError(a) : { verdict: 'silent' as const, why: `HTTP ${a.status}, expected ${status}: ${a.body.slice(0, 200)}` });
  const refused = (a: Answer) => (a.status >= 400 ? judgeError(a, { protocolOk: true }) : { verdict: 'silent' as const, why: `HTTP ${a.status} for a malformed request` });
  const accepted = (a: Answer) => (a.status === 200 && hasFace(parseJson<Item[]>(a.body)?.[0]) ? { verdict: 'graceful' as const } : { verdict: 'lost' as const, why: `HTTP ${a.status}: ${a.body.slice(0, 200)}` });
  headerCase('text/plain', '/v1/analyze', { headers: { 'content-type': 'text/plain' }, body: () => 'hello', expect: typedStatus(415) });
  headerCase('json-object', '/v1/analyze', { headers: { 'content-type': 'application/json' }, body: () => '{"image":"x"}', expect: typedStatus(415) });
  headerCase('json-malformed', '/v1/analyze', { headers: { 'content-type': 'application/json' }, body: () => '{"image":', expect: refused });
  headerCase('no-content-type', '/v1/analyze', { body: () => goodBytes, expect: refused });
  headerCase('empty-body', '/v1/analyze', { headers: { 'content-type': 'image/jpeg', 'content-length': 0 }, body: () => '', expect: typedStatus(400) });
  headerCase('content-type-garbage', '/v1/analyze', { headers: { 'content-type': '\u00ff/\u00fe;;;=' }, body: () => goodBytes, expect: refused });
  headerCase('multipart-no-boundary', '/v1/analyze', { headers: { 'content-type': 'multipart/form-data' }, body: () => 'garbage', expect: refused });
  headerCase('multipart-garbage', '/v1/analyze', { headers: { 'content-type': 'multipart/form-data; boundary=xyz' }, body: () => 'this is not multipart at all', expect: refused });
  headerCase('multipart-unterminated', '/v1/analyze', { headers: { 'content-type': 'multipart/form-data; boundary=xyz' }, body: () => Buffer.concat([Buffer.from('--xyz\r\nContent-Disposition: form-data; name="image"; filename="a.jpg"\r\n\r\n'), goodBytes]), expect: refused });
  headerCase('multipart-fields-only', '/v1/analyze', { headers: { 'content-type': multipart([{ field: 'tasks', data: 'emotion' }]).type.replace(/boundary=.*/, 'boundary=b') }, body: () => '--b\r\nContent-Disposition: form-data; name="tasks"\r\n\r\nemotion\r\n--b--\r\n', expect: typedStatus(400) });
  headerCase('multipart-too-many-files', '/v1/analyze', {
    headers: { 'content-type': 'multipart/form-data; boundary=b' },
    body: () => Array.from({ length: 40 }, (_, i) => `--b\r\nContent-Disposition: form-data; name="image"; filename="${i}.jpg"\r\n\r\nx\r\n`).join('') + '--b--\r\n',
    expect: refused,
  });
  headerCase('declared-huge-length', '/v1/analyze', { headers: { 'content-type': 'image/jpeg', 'content-length': 10 ** 12 }, body: () => 'tiny', expect: refused });
  headerCase('chunked-over-limit', '/v1/analyze', {
    headers: { 'content-type': 'image/jpeg' },
    body: () => Readable.from((function* () {
      for (let i = 0; i < 2 * (MAX_BODY >> 20) + 4; i++) yield zeros;
    })()),
    expect: typedStatus(413),
    overLimit: true,
  });
  headerCase('chunked-good', '/v1/analyze?tasks=emotion', { headers: { 'content-type': 'image/jpeg' }, body: () => Readable.from([goodBytes.subarray(0, 1000), goodBytes.subarray(1000)]), expect: accepted });
  headerCase('gzip-bomb', '/v1/analyze', { headers: { 'content-type': 'image/jpeg', 'content-encoding': 'gzip' }, body: () => gzipSync(Buffer.alloc(64 << 20)), expect: refused });
  headerCase('huge-header', '/v1/analyze', { headers: { 'content-type': 'image/jpeg', 'x-junk': 'a'.repeat(64 * 1024) }, body: () => goodBytes, expect: refused });
  headerCase('request-id-injection', '/v1/analyze?tasks=emotion', { headers: { 'content-type': 'image/jpeg', 'x-request-id': '<script>'.repeat(100) }, body: () => goodBytes, expect: accepted });
  headerCase('accept-odd', '/v1/analyze?tasks=emotion', { headers: { 'content-type': 'image/jpeg', accept: 'text/csv;q=0, */*;q=abc, \u00e9' }, body: () => goodBytes, expect: (a) => (a.status === 200 ? { verdict: 'graceful' } : judgeError(a)) });
  headerCase('repeated-query', `/v1/analyze?${Array.from({ length: 500 }, () => 'tasks=emotion').join('&')}`, { headers: { 'content-type': 'image/jpeg' }, body: () => goodBytes, expect: (a) => (a.status === 200 ? { verdict: 'graceful' } : judgeError(a)) });
  headerCase('bad-percent-encoding', '/v1/analyze?name=%E0%A4%A&tasks=%ZZ', { headers: { 'content-type': 'image/jpeg' }, body: () => goodBytes, expect: (a) => (a.status === 200 ? { verdict: 'graceful' } : judgeError(a)) });
  headerCase('wrong-method', '/v1/analyze', { method: 'PUT', headers: { 'content-type': 'image/jpeg' }, body: () => goodBytes, expect: typedStatus(404) });
  headerCase('job-path-traversal', '/v1/jobs/..%2F..%2Fetc%2Fpasswd', { method: 'GET', expect: typedStatus(404) });
  headerCase('job-nul', '/v1/jobs/%00/rows', { method: 'GET', expect: typedStatus(404) });
  headerCase('video-text-plain', '/v1/videos', { headers: { 'content-type': 'text/plain' }, body: () => 'x', expect: typedStatus(415) });
  headerCase('video-declared-huge', '/v1/videos', { headers: { 'content-type': 'video/mp4', 'content-length': 10 ** 12 }, body: () => 'tiny', expect: refused });
  headerCase('video-empty', '/v1/videos', { headers: { 'content-type': 'video/mp4', 'content-length': 0 }, body: () => '', expect: typedStatus(400) });
  return cases;
}

function rawExpectTyped(s: Sent): Judged {
  const none = noAnswer(s);
  if (none !== undefined) return none;
  const a = s as Answer;
  return a.status === 200 ? { verdict: 'silent', why: 'a result for bytes that are no image' } : judgeError(a);
}

function expectOptionError(a: Answer, option: string): Judged {
  if (a.status !== 400) return { verdict: a.status >= 500 ? 'crashed' : 'silent', why: `HTTP ${a.status} for a bad ${option}, expected 400: ${a.body.slice(0, 200)}` };
  return judgeError(a, { naming: option });
}

interface Server {
  readonly url: string;
  readonly proc: ChildProcess;
  readonly memory: Watch;
  /** Error-level log lines so far (an unexpected error, a crashed job). */
  readonly errors: string[];
  readonly stderr: string[];
  alive(): boolean;
  stop(): Promise<void>;
}

async function startServer(o: ChannelOptions): Promise<Server> {
  const args = [join(o.root, 'bin', 'facesense.js'), 'serve', '--port', '0', '--data-dir', join(o.dir, `serve-data-${Date.now()}`), '--tasks', 'emotion', '--max-body', String(MAX_BODY), '--timeout-ms', '10000', '--log-level', 'warn', '--max-event-loop-delay', '0', '--concurrency', '2'];
  const env: NodeJS.ProcessEnv = { ...process.env, FORCE_COLOR: '0' };
  delete env.NODE_TEST_CONTEXT;
  const proc = spawn(process.execPath, args, { cwd: o.root, stdio: ['ignore', 'pipe', 'pipe'], env });
  const memory = watchMemory(proc, o.memoryMb);
  const errors: string[] = [];
  const stderr: string[] = [];
  let buf = '';
  proc.stdout!.on('data', (c: Buffer) => {
    buf += c.toString('utf8');
    const lines = buf.split('\n');
    buf = lines.pop()!;
    for (const l of lines) if (/"level":(50|60)/.test(l)) errors.push(l.slice(0, 600));
  });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`facesense serve did not start in 120 s: ${stderr.join('')}`)), 120_000);
    proc.stderr!.on('data', (c: Buffer) => {
      stderr.push(c.toString('utf8'));
      const m = /listening on (http:\/\/\S+)/.exec(stderr.join(''));
      if (m !== null) {
        clearTimeout(timer);
        resolve(m[1]!.replace(/\s.*$/, ''));
      }
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`facesense serve exited ${code} at start: ${stderr.join('')}`));
    });
  });
  const alive = () => proc.exitCode === null && proc.signalCode === null;
  return {
    url,
    proc,
    memory,
    errors,
    stderr,
    alive,
    async stop() {
      memory.stop();
      if (!alive()) return;
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(t);
    },
  };
}

/** The server still answers its health probe and analyses a good photo. */
async function stillServing(url: string, dir: string, timeoutMs: number): Promise<Judged> {
  const h = await send(url, '/healthz', { method: 'GET', timeoutMs });
  if ('failed' in h || h.status !== 200) return { verdict: 'lost', why: `/healthz: ${'failed' in h ? h.failed : h.status}` };
  const s = await send(url, '/v1/analyze?tasks=emotion', { headers: { 'content-type': 'image/jpeg' }, body: await readFile(join(dir, 'good.jpg')), timeoutMs });
  if ('failed' in s || s.status !== 200 || !hasFace(parseJson<Item[]>(s.body)?.[0])) return { verdict: 'lost', why: `a good photo after the hostile ones: ${'failed' in s ? s.failed : `HTTP ${s.status} ${s.body.slice(0, 200)}`}` };
  return { verdict: 'graceful' };
}

/** Replays the HTTP cases against one server (restarted if a case kills it); one result per case plus one "still serving" check per group. */
export async function serveChannel(o: ChannelOptions): Promise<CaseResult[]> {
  const all = (await httpCases(o.dir)).filter((c) => o.filter === undefined || c.id.includes(o.filter));
  const cases = spread(all, (c) => c.group, o.perGroup);
  const results: CaseResult[] = [];
  let server = await startServer(o);
  const push = (id: string, t0: number, j: Judged) => {
    const r: CaseResult = { id, ...j, ms: Date.now() - t0, peakRssMb: server.memory.peak() };
    results.push(r);
    o.onResult?.(r);
  };
  try {
    const groups = [...new Set(cases.map((c) => c.group))];
    for (const group of groups) {
      for (const c of cases.filter((x) => x.group === group)) {
        if (!server.alive()) server = await startServer(o);
        const t0 = Date.now();
        const errorsBefore = server.errors.length;
        let j: Judged;
        try {
          j = await c.run(server.url, o.timeoutMs);
        } catch (e) {
          j = { verdict: 'crashed', why: `the case itself failed: ${String(e)}` };
        }
        // Whatever the answer, the server's own state decides first.
        await new Promise((r) => setTimeout(r, 50));
        if (server.memory.overMemory()) j = { verdict: 'crashed', why: `server RSS over the memory cap (peak ${server.memory.peak()} MB)` };
        else if (!server.alive()) j = { verdict: 'crashed', why: `the server died (exit ${server.proc.exitCode ?? server.proc.signalCode}): ${server.stderr.join('').slice(-400)}` };
        else if (server.errors.length > errorsBefore) j = { verdict: 'crashed', why: `the server logged an error: ${server.errors.slice(errorsBefore).join(' | ').slice(0, 600)}` };
        push(c.id, t0, j);
      }
      const t0 = Date.now();
      if (!server.alive()) server = await startServer(o);
      push(`serve-${group}:still-serving`, t0, await stillServing(server.url, o.dir, o.timeoutMs));
    }
  } finally {
    await server.stop();
  }
  return results;
}
