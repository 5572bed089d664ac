/**
 * Typed errors. Every error names the input it concerns (`source`) and says what to do about it.
 * `code` is stable and machine-readable; CLI error records carry it.
 */
export type ErrorCode =
  | 'INPUT_NOT_FOUND'
  | 'INPUT_UNREADABLE'
  | 'INPUT_EMPTY'
  | 'INPUT_TOO_LARGE'
  | 'UNSUPPORTED_FORMAT'
  | 'CORRUPT_IMAGE'
  | 'PIXEL_LIMIT_EXCEEDED'
  | 'INVALID_PIXELS'
  | 'INVALID_OPTION'
  | 'MODEL_NOT_FOUND'
  | 'MODEL_INVALID'
  | 'CHECKSUM_MISMATCH'
  | 'DOWNLOAD_FAILED'
  | 'DATASET_INVALID'
  | 'FACE_TOO_SMALL'
  | 'CORRUPT_VIDEO'
  | 'VIDEO_TOOL_MISSING'
  | 'VIDEO_ENCODE_FAILED'
  | 'DEPENDENCY_MISSING'
  | 'DISPOSED'
  | 'ABORTED'
  | 'WORKER_CRASHED'
  | 'BATCH_STATE'
  | 'BATCH_NOT_FOUND'
  | 'JOB_INVALID'
  | 'DURATION_LIMIT_EXCEEDED'
  // The HTTP service's own conditions (src/server/): the request, not the input, is at fault.
  | 'UNAUTHORIZED'
  | 'NOT_FOUND'
  | 'BODY_TOO_LARGE'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'MALFORMED_REQUEST'
  | 'OVERLOADED'
  | 'TIMEOUT'
  | 'CANCELLED'
  | 'RATE_LIMITED';

export class FacesenseError extends Error {
  override readonly name: string = 'FacesenseError';
  readonly code: ErrorCode;
  /** File path, URL or description of the input the error concerns, when there is one. */
  readonly source: string | undefined;

  constructor(code: ErrorCode, message: string, options: { source?: string; cause?: unknown } = {}) {
    super(options.source === undefined ? message : `${options.source}: ${message}`, { cause: options.cause });
    this.code = code;
    this.source = options.source;
  }

  /** Plain serialisable form, as written into CLI error records. */
  toJSON(): { code: ErrorCode; message: string; source?: string } {
    return this.source === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, source: this.source };
  }
}

/** The image cannot be read or decoded (missing, empty, not an image, truncated, too large). */
export class ImageDecodeError extends FacesenseError {
  override readonly name = 'ImageDecodeError';
}

/** A model id or file cannot be resolved, loaded or verified. */
export class ModelError extends FacesenseError {
  override readonly name = 'ModelError';
}

/** A caller passed an option that cannot work; the message says which and what is allowed. */
export class OptionError extends FacesenseError {
  override readonly name = 'OptionError';
  constructor(message: string) {
    super('INVALID_OPTION', message);
  }
}

/** A dataset file or row is malformed, missing or carries an unknown label. */
export class DatasetError extends FacesenseError {
  override readonly name = 'DatasetError';
}

/** A video cannot be read or written, is damaged part-way, or ffmpeg/ffprobe is missing (src/video/). */
export class VideoError extends FacesenseError {
  override readonly name = 'VideoError';
}

/** A batch directory, queue or job is not in a state the command can work with (src/batch/, src/queue/). */
export class BatchError extends FacesenseError {
  override readonly name = 'BatchError';
}

export function isFacesenseError(e: unknown): e is FacesenseError {
  return e instanceof FacesenseError;
}

/** What crosses a thread or process boundary for a FacesenseError: its toJSON() and class name. */
export interface SerialisedError {
  readonly name: string;
  readonly code: ErrorCode;
  readonly message: string;
  readonly source?: string;
}

export function serialiseError(e: FacesenseError): SerialisedError {
  return { name: e.name, ...e.toJSON() };
}

/** The typed error again on the other side (same class, code, source and message). */
export function deserialiseError(s: SerialisedError): FacesenseError {
  const prefix = s.source === undefined ? '' : `${s.source}: `;
  const message = s.message.startsWith(prefix) ? s.message.slice(prefix.length) : s.message;
  const opts = s.source === undefined ? {} : { source: s.source };
  switch (s.name) {
    case 'OptionError':
      return new OptionError(message);
    case 'ImageDecodeError':
      return new ImageDecodeError(s.code, message, opts);
    case 'ModelError':
      return new ModelError(s.code, message, opts);
    case 'DatasetError':
      return new DatasetError(s.code, message, opts);
    case 'VideoError':
      return new VideoError(s.code, message, opts);
    case 'BatchError':
      return new BatchError(s.code, message, opts);
    default:
      return new FacesenseError(s.code, message, opts);
  }
}
