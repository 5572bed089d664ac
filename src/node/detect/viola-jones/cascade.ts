/**
 * Parse an OpenCV Haar cascade XML file into flat typed arrays.
 *
 * Format: the "new" cascade format written by `opencv_traincascade` and read by OpenCV's
 * `CascadeClassifierImpl::Data::read` and `HaarEvaluator::read` (modules/objdetect/src/
 * cascadedetect.cpp). Every cascade in Debian's `opencv-data` except
 * haarcascade_licence_plate_rus_16stages.xml uses it:
 *
 *     <cascade><stageType>BOOST</stageType><featureType>HAAR</featureType>
 *       <height>24</height><width>24</width>
 *       <featureParams><maxCatCount>0</maxCatCount></featureParams>
 *       <stages><_>
 *         <stageThreshold>t</stageThreshold>
 *         <weakClassifiers><_>
 *           <internalNodes>left right featureIdx threshold ...</internalNodes>
 *           <leafValues>v0 v1 ...</leafValues></_>...</weakClassifiers></_>...</stages>
 *       <features><_><rects><_>x y w h weight</_>...</rects><tilted>1</tilted></_>...</features>
 *
 * Node semantics (OpenCV `predictOrdered`): go left when `feature < threshold`; a child index
 * > 0 is another internal node of the same tree, a value <= 0 is leaf number `-value`.
 * Thresholds, leaves and weights are stored as float32, as OpenCV stores them, so that the
 * evaluator compares exactly the same numbers.
 */
import { readFile } from 'node:fs/promises';
import { XMLParser } from 'fast-xml-parser';
import { ModelError } from '../../../core/errors.js';

/** OpenCV's `HaarEvaluator::Feature::RECT_NUM`: a Haar feature has at most three rectangles. */
export const MAX_RECTS_PER_FEATURE = 3;

/** A parsed boosted Haar cascade. Arrays are flat; offsets index them per stage / tree. */
export interface HaarCascade {
  /** Detection window size in pixels (`<width>`, `<height>`). */
  readonly windowWidth: number;
  readonly windowHeight: number;
  readonly stageCount: number;
  /** Stage thresholds as written in the file, float32-rounded (OpenCV subtracts 1e-5 at use). */
  readonly stageThreshold: Float32Array;
  /** Trees of stage s are `stageTreeStart[s] .. stageTreeStart[s + 1] - 1` (length stageCount+1). */
  readonly stageTreeStart: Int32Array;
  /** Nodes of tree t are `treeNodeStart[t] ..` (length treeCount+1); leaves likewise. */
  readonly treeNodeStart: Int32Array;
  readonly treeLeafStart: Int32Array;
  /** Per internal node: child indices (see header), feature index and split threshold. */
  readonly nodeLeft: Int32Array;
  readonly nodeRight: Int32Array;
  readonly nodeFeature: Int32Array;
  readonly nodeThreshold: Float32Array;
  readonly leafValues: Float32Array;
  /** True when every tree is a single split (a stump), as in all stock face cascades. */
  readonly stumpsOnly: boolean;
  readonly featureCount: number;
  /** Per feature, 3 rectangles × (x, y, width, height); unused rectangles are all zero. */
  readonly featureRects: Int32Array;
  /** Per feature, 3 rectangle weights; unused rectangles have weight 0. */
  readonly featureWeights: Float32Array;
  /** Per feature, 1 when it is a 45°-rotated feature evaluated on the tilted integral image. */
  readonly featureTilted: Uint8Array;
  readonly hasTiltedFeatures: boolean;
}

/** Read and parse a cascade file. Missing file → MODEL_NOT_FOUND; bad content → MODEL_INVALID. */
export async function loadHaarCascade(path: string): Promise<HaarCascade> {
  let xml: string;
  try {
    xml = await readFile(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw new ModelError(
        'MODEL_NOT_FOUND',
        'Haar cascade file not found. Install the OpenCV cascades (`apt-get install opencv-data`), ' +
          'set FACESENSE_HAAR_DIR to a folder holding them, or pass faceCascadePath / eyeCascadePath.',
        { source: path, cause: e },
      );
    }
    throw new ModelError('MODEL_INVALID', `cannot read Haar cascade file (${code ?? String(e)})`, { source: path, cause: e });
  }
  return parseHaarCascade(xml, path);
}

/** Parse cascade XML text. `source` names the file in error messages. */
export function parseHaarCascade(xml: string, source = 'cascade XML'): HaarCascade {
  const fail = (what: string): never => {
    throw new ModelError('MODEL_INVALID', `not a usable OpenCV Haar cascade: ${what}`, { source });
  };

  let doc: unknown;
  try {
    // `_` is OpenCV FileStorage's anonymous sequence element: always collect it as an array.
    doc = new XMLParser({ ignoreAttributes: true, parseTagValue: false, isArray: (name) => name === '_' }).parse(xml, true);
  } catch (e) {
    throw new ModelError('MODEL_INVALID', `malformed XML: ${e instanceof Error ? e.message : String(e)}`, { source, cause: e });
  }
  const storage = asRecord(asRecord(doc)?.['opencv_storage']) ?? fail('no <opencv_storage> root element');
  // OpenCV reads the first top-level node (FileStorage::getFirstTopLevelNode).
  const rootName = Object.keys(storage)[0] ?? fail('empty <opencv_storage>');
  const root = asRecord(storage[rootName]) ?? fail(`<${rootName}> is empty`);
  if (root['stageType'] === undefined && root['size'] !== undefined) {
    fail('old-format (opencv-haar-classifier) cascades are not supported; use a cascade in the opencv_traincascade format');
  }
  if (text(root['stageType']) !== 'BOOST') fail(`stageType must be BOOST, got ${JSON.stringify(text(root['stageType']))}`);
  const featureType = text(root['featureType']);
  if (featureType !== 'HAAR') fail(`featureType must be HAAR, got ${JSON.stringify(featureType)} (LBP/HOG cascades are not supported)`);
  const windowWidth = positiveInt(text(root['width'])) ?? fail('<width> must be a positive integer');
  const windowHeight = positiveInt(text(root['height'])) ?? fail('<height> must be a positive integer');
  // A window smaller than 3×3 has no inner normalisation rectangle (see evaluate.ts).
  if (windowWidth < 3 || windowHeight < 3) fail('window must be at least 3×3 pixels');
  const maxCat = Number(text(asRecord(root['featureParams'])?.['maxCatCount']) ?? '0');
  if (maxCat !== 0) fail('categorical (maxCatCount > 0) splits are not supported');

  // ---- features ----
  const featureNodes = asArray(asRecord(root['features'])?.['_']) ?? fail('no <features>');
  const featureCount = featureNodes.length;
  if (featureCount === 0) fail('no <features>');
  const featureRects = new Int32Array(featureCount * MAX_RECTS_PER_FEATURE * 4);
  const featureWeights = new Float32Array(featureCount * MAX_RECTS_PER_FEATURE);
  const featureTilted = new Uint8Array(featureCount);
  featureNodes.forEach((f, fi) => {
    const feature = asRecord(f) ?? fail(`feature ${fi} is empty`);
    const rects = asArray(asRecord(feature['rects'])?.['_']) ?? fail(`feature ${fi} has no <rects>`);
    if (rects.length < 1 || rects.length > MAX_RECTS_PER_FEATURE) fail(`feature ${fi} has ${rects.length} rects (1 to 3 allowed)`);
    const tilted = (Number(text(feature['tilted']) ?? '0') || 0) !== 0;
    featureTilted[fi] = tilted ? 1 : 0;
    rects.forEach((r, ri) => {
      const v = numbers(text(r));
      const [x, y, w, h, weight] = v;
      if (v.length !== 5 || x === undefined || y === undefined || w === undefined || h === undefined || weight === undefined) {
        return fail(`feature ${fi} rect ${ri} must be "x y w h weight"`);
      }
      if (![x, y, w, h].every(Number.isInteger) || w < 0 || h < 0) fail(`feature ${fi} rect ${ri} has a non-integer or negative geometry`);
      // Every corner the evaluator reads must lie inside the window's integral image, or it
      // would read a neighbouring window (OpenCV does not check; a bad file there is UB).
      const inside = tilted
        ? x - h >= 0 && y >= 0 && x + w <= windowWidth && y + w + h <= windowHeight
        : x >= 0 && y >= 0 && x + w <= windowWidth && y + h <= windowHeight;
      if (!inside) fail(`feature ${fi} rect ${ri} lies outside the ${windowWidth}×${windowHeight} window`);
      const o = (fi * MAX_RECTS_PER_FEATURE + ri) * 4;
      featureRects[o] = x;
      featureRects[o + 1] = y;
      featureRects[o + 2] = w;
      featureRects[o + 3] = h;
      featureWeights[fi * MAX_RECTS_PER_FEATURE + ri] = weight;
    });
  });

  // ---- stages ----
  const stageNodes = asArray(asRecord(root['stages'])?.['_']) ?? fail('no <stages>');
  if (stageNodes.length === 0) fail('no <stages>');
  const stageThreshold = new Float32Array(stageNodes.length);
  const stageTreeStart = new Int32Array(stageNodes.length + 1);
  const treeNodeStart: number[] = [0];
  const treeLeafStart: number[] = [0];
  const nodeLeft: number[] = [];
  const nodeRight: number[] = [];
  const nodeFeature: number[] = [];
  const nodeThreshold: number[] = [];
  const leafValues: number[] = [];
  let stumpsOnly = true;

  stageNodes.forEach((s, si) => {
    const stage = asRecord(s) ?? fail(`stage ${si} is empty`);
    const threshold = Number(text(stage['stageThreshold']));
    if (!Number.isFinite(threshold)) fail(`stage ${si} has no numeric <stageThreshold>`);
    stageThreshold[si] = threshold;
    const weak = asArray(asRecord(stage['weakClassifiers'])?.['_']) ?? fail(`stage ${si} has no <weakClassifiers>`);
    if (weak.length === 0) fail(`stage ${si} has no weak classifiers`);
    weak.forEach((w, wi) => {
      const where = `stage ${si} classifier ${wi}`;
      const tree = asRecord(w) ?? fail(`${where} is empty`);
      const nodes = numbers(text(tree['internalNodes']));
      const leaves = numbers(text(tree['leafValues']));
      // 4 numbers per ordered (non-categorical) node: OpenCV's nodeStep = 3 + 1.
      const nodeCount = nodes.length / 4;
      if (nodeCount < 1 || !Number.isInteger(nodeCount)) fail(`${where}: <internalNodes> must hold 4 numbers per node`);
      if (leaves.length !== nodeCount + 1) fail(`${where}: expected ${nodeCount + 1} leaf values, got ${leaves.length}`);
      if (nodeCount > 1) stumpsOnly = false;
      for (let n = 0; n < nodeCount; n++) {
        const left = nodes[n * 4] ?? NaN;
        const right = nodes[n * 4 + 1] ?? NaN;
        const feature = nodes[n * 4 + 2] ?? NaN;
        const thr = nodes[n * 4 + 3] ?? NaN;
        for (const child of [left, right]) {
          const ok = Number.isInteger(child) && (child > 0 ? child < nodeCount : -child <= nodeCount);
          if (!ok) fail(`${where}: node ${n} child ${child} is out of range`);
        }
        if (!Number.isInteger(feature) || feature < 0 || feature >= featureCount) fail(`${where}: feature index ${feature} is out of range`);
        if (!Number.isFinite(thr)) fail(`${where}: node ${n} threshold is not a number`);
        nodeLeft.push(left);
        nodeRight.push(right);
        nodeFeature.push(feature);
        nodeThreshold.push(thr);
      }
      if (!leaves.every(Number.isFinite)) fail(`${where}: leaf values must be numbers`);
      leafValues.push(...leaves);
      treeNodeStart.push(nodeLeft.length);
      treeLeafStart.push(leafValues.length);
    });
    stageTreeStart[si + 1] = treeNodeStart.length - 1;
  });

  return {
    windowWidth,
    windowHeight,
    stageCount: stageNodes.length,
    stageThreshold,
    stageTreeStart,
    treeNodeStart: Int32Array.from(treeNodeStart),
    treeLeafStart: Int32Array.from(treeLeafStart),
    nodeLeft: Int32Array.from(nodeLeft),
    nodeRight: Int32Array.from(nodeRight),
    nodeFeature: Int32Array.from(nodeFeature),
    nodeThreshold: Float32Array.from(nodeThreshold),
    leafValues: Float32Array.from(leafValues),
    stumpsOnly,
    featureCount,
    featureRects,
    featureWeights,
    featureTilted,
    hasTiltedFeatures: featureTilted.some((t) => t !== 0),
  };
}

// ---- helpers over the untyped parser output ----

function asRecord(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

function asArray(v: unknown): readonly unknown[] | undefined {
  return Array.isArray(v) ? (v as unknown[]) : undefined;
}

function text(v: unknown): string | undefined {
  if (typeof v === 'string') return v.trim();
  if (typeof v === 'number') return String(v);
  return undefined;
}

function numbers(s: string | undefined): number[] {
  if (s === undefined || s === '') return [];
  return s.split(/\s+/).map(Number);
}

function positiveInt(s: string | undefined): number | undefined {
  const n = Number(s);
  return s !== undefined && s !== '' && Number.isInteger(n) && n > 0 ? n : undefined;
}
