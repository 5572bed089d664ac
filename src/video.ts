/**
 * `facesense/video`: reading video files with ffmpeg (Node only). Kept out of the root entry so
 * library users who only analyse images do not load child_process.
 */
export { openVideo } from './node/video/decode.js';
export type { SamplingOptions, VideoFrame, VideoReader } from './node/video/decode.js';
export { probeVideo, DEFAULT_VIDEO_TOOLS } from './node/video/probe.js';
export type { VideoInfo, VideoTools } from './node/video/probe.js';
