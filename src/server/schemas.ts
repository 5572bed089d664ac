/**
 * Route schemas: they validate query strings and path parameters and are the source of the
 * OpenAPI document (/openapi.json, /docs). Result bodies carry no response schema on purpose: the
 * serialiser would drop fields it does not know, and results must be the CLI's bytes.
 */
const error = { description: 'Error: `{error: {code, message, source?}, requestId}` with the stable code of the typed error', type: 'object', additionalProperties: true };
const errors = (...codes: number[]) => Object.fromEntries(codes.map((c) => [c, error]));
const s = (description: string) => ({ type: 'string', description });

const modelQuery = {
  tasks: s('comma-separated tasks (default: every default task)'),
  model: { type: 'array', items: { type: 'string' }, description: 'extra model id (repeatable or comma-separated)' },
  detector: { type: 'string', enum: ['yunet', 'yunet-640', 'viola-jones', 'none'] },
  'score-threshold': s('minimum detector score (default 0.6)'),
  'max-faces': s('at most N faces per image (default 100)'),
  'min-face': s('ignore faces smaller than N px (default 20)'),
  tta: s('true: average each face with its mirror image'),
};
const idParams = { type: 'object', properties: { id: { type: 'string', description: 'job id (a UUID)' } }, required: ['id'] };
const security = [{ apiKey: [] }, { bearer: [] }];

export const ROUTE_SCHEMAS = {
  analyze: {
    summary: 'Analyse one image (raw body) or several (multipart)',
    description:
      'The body is one image (image/* or application/octet-stream) or multipart/form-data with one file field per image and the options as fields. The answer is the `facesense analyze` document: JSON (an array of items), JSONL, or CSV with `Accept: text/csv` or `format=csv`. One raw image that cannot be analysed answers with its error status; in a multipart batch each file answers for itself.',
    tags: ['images'],
    security,
    consumes: ['image/jpeg', 'image/png', 'image/webp', 'application/octet-stream', 'multipart/form-data'],
    produces: ['application/json', 'application/x-ndjson', 'text/csv'],
    querystring: { type: 'object', properties: { ...modelQuery, name: s('name of the image in the result (raw body)'), format: { type: 'string', enum: ['json', 'jsonl', 'csv'] } } },
    'x-body': { type: 'string', format: 'binary' },
    response: { 200: { description: 'the CLI\'s result document' }, ...errors(400, 401, 413, 415, 422, 503) },
  },
  videos: {
    summary: 'Upload a video: starts a job',
    description: 'The body is the video (video/* or application/octet-stream) or multipart/form-data with one file field. Answers 202 with the job and its Location.',
    tags: ['videos'],
    security,
    consumes: ['video/mp4', 'application/octet-stream', 'multipart/form-data'],
    querystring: {
      type: 'object',
      properties: {
        ...modelQuery,
        name: s('name of the video in the summary'),
        fps: s('sample this many frames per second'),
        every: s('keep every Nth frame'),
        start: s('start, seconds'),
        end: s('end, seconds'),
        'detect-every': s('run the detector on every Nth sampled frame'),
        smooth: s('ema:ALPHA | window:N | none'),
        iou: s('least IoU to continue a track'),
        'max-missed': s('detection rounds a track may be missed'),
        annotate: s('true: also write the annotated MP4'),
        'sequence-model': s('sequence model id (e.g. emotion-sequence-ckplus): adds <task>_sequence per face and track, as `facesense video --sequence-model`'),
        'sequence-window': s('N frames or `track` (default: the sequence model\'s training length); needs sequence-model'),
      },
    },
    'x-body': { type: 'string', format: 'binary' },
    response: { 202: { description: 'the job (state queued); unknown models, tasks or sequence models are refused with 400 before the upload is read', type: 'object', additionalProperties: true }, ...errors(400, 401, 413, 415, 429, 503) },
  },
  job: { summary: 'A video job: state, progress, errors', tags: ['videos'], security, params: idParams, response: { 200: { description: 'the job', type: 'object', additionalProperties: true }, ...errors(401, 404) } },
  rows: {
    summary: 'A video job\'s per-frame rows (so far), streamed',
    tags: ['videos'],
    security,
    params: idParams,
    querystring: { type: 'object', properties: { format: { type: 'string', enum: ['jsonl', 'csv'] } } },
    produces: ['application/x-ndjson', 'text/csv'],
    response: { 200: { description: 'JSONL (default) or CSV, as `facesense video`' }, ...errors(401, 404) },
  },
  jobFile: { summary: 'A finished video job\'s summary (JSON), timeline (HTML) or annotated video (MP4)', tags: ['videos'], security, params: idParams, response: { 200: { description: 'the file' }, ...errors(401, 404) } },
  cancel: { summary: 'Cancel a queued or running job; delete a finished one', tags: ['videos'], security, params: idParams, response: { 200: { description: 'the cancelled job', type: 'object', additionalProperties: true }, 204: { description: 'deleted', type: 'null' }, ...errors(401, 404) } },
  stream: {
    summary: 'Live stream (WebSocket)',
    description:
      'Upgrade to a WebSocket. Send frames as binary messages (an encoded image), or as a text message `{"width","height","channels"?,"timestampMs"?}` followed by a binary message of raw RGB pixels. Each frame is answered by a text message `{"type":"frame",...}` with track ids and smoothed labels, or `{"type":"error"|"dropped",...}`. Query: tasks, model, detector, detect-every, smooth, iou, max-missed, tta.',
    tags: ['stream'],
    security,
    querystring: { type: 'object', properties: { ...modelQuery, 'detect-every': s('detector on every Nth frame'), smooth: s('ema:ALPHA | window:N | none'), iou: s('least IoU to continue a track'), 'max-missed': s('detection rounds a track may be missed') } },
    response: { 101: { description: 'switched to the WebSocket protocol' }, 426: error, ...errors(401) },
  },
  models: { summary: 'Models loaded by default: ids, tasks, labels, metrics, terms', tags: ['service'], security, response: { 200: { description: 'models', type: 'object', additionalProperties: true }, ...errors(401) } },
  health: { summary: 'Liveness (/healthz) or readiness (/readyz: 503 while closing or at capacity)', tags: ['service'], response: { 200: { description: 'ok', type: 'object', additionalProperties: true }, 503: { description: 'not ready', type: 'object', additionalProperties: true } } },
  metrics: { summary: 'Prometheus metrics', tags: ['service'], produces: ['text/plain'], response: { 200: { description: 'Prometheus text format' } } },
  root: {
    summary: 'The browser web app (when installed with --web-app), else a pointer to the docs',
    description: 'Serves the built web app\'s index.html (its other files are served beside it, cross-origin isolated); without one, a JSON object pointing to /docs and /openapi.json. Public, also with API keys.',
    tags: ['service'],
    produces: ['text/html', 'application/json'],
    response: { 200: { description: 'the web app page, or the pointer' } },
  },
  openapi: { summary: 'This document', tags: ['service'], response: { 200: { description: 'OpenAPI 3 document', type: 'object', additionalProperties: true } } },
} as const;
