/** Viola–Jones (Haar cascade) face detection in pure TypeScript. See detector.ts. */
export {
  createViolaJonesDetector,
  defaultCascadePath,
  neighborsToScore,
  DEFAULT_EYE_CASCADE,
  DEFAULT_FACE_CASCADE,
  DEFAULT_HAAR_DIR,
  HAAR_DIR_ENV,
  type ViolaJonesOptions,
} from './detector.js';
export { loadHaarCascade, parseHaarCascade, MAX_RECTS_PER_FEATURE, type HaarCascade } from './cascade.js';
export { allocateIntegral, fillIntegral, grayFromRgb, integralImage, type IntegralImage } from './integral.js';
export { compileCascade, evaluateWindow, prepareCascade, scanImage, WINDOW_REJECTED, type CompiledCascade, type PreparedCascade } from './evaluate.js';
export { detectCandidates, detectMultiScale, pyramidScales, GROUP_EPS, type GrayImage, type MultiScaleOptions } from './multiscale.js';
export { dropEnclosingRects, groupRectangles, partitionRects, similarRects, type GroupedRect, type Rect } from './group.js';
export { EYE_SEARCH_BAND, MEAN_FACE, pickEyes, synthesiseLandmarks } from './landmarks.js';
export { resizeGrayBilinear, roundHalfEven, type GrayView } from './resize.js';
