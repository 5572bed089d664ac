/** HTTP status of each typed error code, and the JSON error body every route answers with. */
import { FacesenseError, type ErrorCode } from '../core/errors.js';

const STATUS: Partial<Record<ErrorCode, number>> = {
  INVALID_OPTION: 400,
  INPUT_EMPTY: 400,
  MALFORMED_REQUEST: 400,
  MODEL_NOT_FOUND: 400,
  UNAUTHORIZED: 401,
  NOT_FOUND: 404,
  BODY_TOO_LARGE: 413,
  PIXEL_LIMIT_EXCEEDED: 413,
  DURATION_LIMIT_EXCEEDED: 413,
  UNSUPPORTED_FORMAT: 415,
  UNSUPPORTED_MEDIA_TYPE: 415,
  CORRUPT_IMAGE: 422,
  INVALID_PIXELS: 422,
  CORRUPT_VIDEO: 422,
  RATE_LIMITED: 429,
  // nginx's 'client closed request': the client is gone, the status only shows in logs and metrics.
  CANCELLED: 499,
  OVERLOADED: 503,
  TIMEOUT: 503,
  DISPOSED: 503,
  VIDEO_TOOL_MISSING: 503,
};

/** 500 for codes that mean the server, not the request, is wrong (a model failed its checksum). */
export function statusOf(code: ErrorCode): number {
  return STATUS[code] ?? 500;
}

export interface ErrorBody {
  readonly error: { readonly code: string; readonly message: string; readonly source?: string };
  readonly requestId: string;
}

/** A typed error for the service's own conditions (the request, not an input, is at fault). */
export function httpError(code: ErrorCode, message: string): FacesenseError {
  return new FacesenseError(code, message);
}

const MULTIPART_ERROR = /multipart|boundary|part terminated|malformed part header/i;

/** Fastify's and its plugins' own errors (body limits, content types, multipart limits) as typed ones. */
export function fromFrameworkError(e: { code?: string; statusCode?: number; message: string }): FacesenseError {
  // busboy's errors for a malformed multipart body carry no status: the request is at fault, not the server.
  if (e.statusCode === undefined && MULTIPART_ERROR.test(e.message)) return httpError('MALFORMED_REQUEST', `the multipart/form-data body is malformed (${e.message}); send each image as a file field`);
  const status = e.statusCode ?? 500;
  if (status === 413) return httpError('BODY_TOO_LARGE', e.message);
  if (status === 415) return httpError('UNSUPPORTED_MEDIA_TYPE', `${e.message}; send an image as image/* or application/octet-stream, or several as multipart/form-data`);
  if (status === 404) return httpError('NOT_FOUND', e.message);
  if (status === 408) return httpError('TIMEOUT', e.message);
  if (status >= 400 && status < 500) return httpError('INVALID_OPTION', e.message);
  return new FacesenseError('OVERLOADED', 'internal error; the request id is in the logs');
}
