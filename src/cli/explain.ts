/**
 * `facesense explain`: occlusion-sensitivity saliency (src/interpret/occlusion.ts) for every face
 * of a photo, on exactly the crop the model sees (the analyzer's detection and alignment, the
 * classifier's normalisation and decoding). Papers 001/002 inspect what their networks attend to;
 * occlusion needs no gradients, so it works on any exported ONNX model. With `--activations`, also
 * the activation maps of the layers a model exports (src/interpret/activations.ts).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { alignFace } from '../core/align.js';
import { type DetectorName, type FaceResult } from '../core/analyzer.js';
import { createAnalyzer } from '../node/analyzer.js';
import { decodeImage } from '../node/decode.js';
import { OptionError } from '../core/errors.js';
import { pickActivations, type Classifier } from '../core/infer.js';
import { createClassifier } from '../node/platform.js';
import { activationPicture, layerMaps, layerSummary } from '../interpret/activations.js';
import { enlarge, heatImage, overlayHeat, sideBySide } from '../interpret/heatmap.js';
import { largestDrop, OCCLUSION_FILLS, occlusionSensitivity, type OcclusionFill, type OcclusionMap } from '../interpret/occlusion.js';
import { encodePng } from '../interpret/png.js';
import type { ActivationOutput, ModelManifest, ModelOutput } from '../core/models/manifest.js';
import { createModelStore } from '../node/models/store.js';
import { decodeOutput } from '../core/postprocess.js';
import type { Detection, Image8, RgbImage } from '../core/types.js';
import { positiveInt } from './options.js';

export const EXPLAIN_USAGE = `Usage: facesense explain <image> --model ID|PATH --out DIR [options]

Occlusion sensitivity: for each face, slides a flat patch over the model's input crop (the aligned
face exactly as the model sees it), runs the model on every occluded copy, and maps how much the
explained class's probability drops. Large drops mark the regions the prediction rests on;
negative values mark regions whose removal makes the class more likely.

Writes per face face-<i>.png (the crop, the map over it, the map alone; enlarged) and one
explain.json (per face: box, class, baseline probability, the patch grid of drops and the
per-pixel map, the largest drop).

With --activations (a model exported with \`python -m training.export ... --activations LAYERS\`):
also per face and exported layer face-<i>-<layer>.png (the crop; the layer's channel-mean map
upsampled over it; the map alone at its own resolution; the --top most active channels over the
crop) and, in explain.json, each layer's shape, channel-mean map and its peak, per-channel means
and the top channels.

Options:
  --model ID|PATH   model to explain
  --task NAME       class task of the model (default: its first softmax or sigmoid output)
  --class LABEL     class to explain (default: each face's predicted class)
  --detector NAME   yunet (default) | yunet-640 | viola-jones | none (the image is one face crop)
  --patch N         patch side in crop pixels (default: a sixth of the crop side, 8 at 48×48)
  --stride N        step between patches (default: a quarter of the patch)
  --fill F          ${OCCLUSION_FILLS.join(' | ')}: what the patch shows (default gray, 128)
  --batch N         occluded crops per model call (default 256)
  --activations     also draw the activation maps of every layer the model exports
  --layers A,B      only these exported layers (implies --activations)
  --top K           channels drawn per layer, the K with the largest mean activation (default 8)
  --no-occlusion    skip occlusion (with --activations: activation maps only)
  --threads N       ONNX Runtime threads (default: one per core)
  --out DIR         output folder
  -h, --help        this text`;

/** The class task to explain: the named one, else the first softmax/sigmoid output. */
export function pickExplainOutput(manifest: ModelManifest, task: string | undefined): ModelOutput {
  const classOutputs = manifest.outputs.filter((o) => o.decode === 'softmax' || o.decode === 'sigmoid');
  const out = task === undefined ? classOutputs[0] : manifest.outputs.find((o) => o.task === task);
  if (out === undefined || !classOutputs.includes(out)) {
    const list = manifest.outputs.map((o) => `${o.task} (${o.decode})`).join(', ');
    throw new OptionError(`${task === undefined ? `model ${manifest.id} has no class output` : `model ${manifest.id} has no class task "${task}"`} to explain (occlusion explains a class probability); its outputs: ${list}`);
  }
  return out;
}

interface FaceExplanation {
  readonly index: number;
  readonly boxPx: FaceResult['boxPx'];
  readonly class: string;
  readonly predicted: string;
  /** The analyzer's probability for the class (same crop and model: equals `baseline`). */
  readonly analyzerScore: number;
  readonly occlusion: OcclusionMap;
}

/** The task whose prediction is reported: a class task for occlusion, else any named (or the first). */
function pickTask(manifest: ModelManifest, task: string | undefined, occlusion: boolean): ModelOutput {
  if (occlusion) return pickExplainOutput(manifest, task);
  if (task === undefined) return manifest.outputs.find((o) => o.decode === 'softmax' || o.decode === 'sigmoid') ?? manifest.outputs[0]!;
  const out = manifest.outputs.find((o) => o.task === task);
  if (out === undefined) throw new OptionError(`model ${manifest.id} has no task "${task}"; its tasks: ${manifest.outputs.map((o) => o.task).join(', ')}`);
  return out;
}

/** A layer name as part of a file name. */
const fileSafe = (layer: string) => layer.replace(/[^A-Za-z0-9._-]+/g, '_');

const r5 = (v: number) => Math.round(v * 1e5) / 1e5;

/** The plain-data form of one face's explanation (explain.json). */
export function explanationJson(f: FaceExplanation, png: string) {
  const m = f.occlusion;
  const rows = (a: Float64Array, w: number) => Array.from({ length: a.length / w }, (_, j) => Array.from(a.subarray(j * w, (j + 1) * w), r5));
  const peak = largestDrop(m);
  return {
    index: f.index,
    boxPx: f.boxPx,
    class: f.class,
    predicted: f.predicted,
    baseline: r5(m.baseline),
    analyzerScore: r5(f.analyzerScore),
    patchPx: m.patch,
    stridePx: m.stride,
    fill: m.fill,
    largestDrop: { xPx: peak.x, yPx: peak.y, drop: r5(peak.drop) },
    grid: { xsPx: m.xs, ysPx: m.ys, drops: rows(m.drops, m.xs.length) },
    map: { widthPx: m.width, heightPx: m.height, values: rows(m.map, m.width) },
    png,
  };
}

function probabilityOf(out: ModelOutput, classifier: Classifier, label: string) {
  return async (crops: readonly Image8[]): Promise<number[]> => {
    const { outputs } = await classifier.run(crops);
    return outputs[out.task]!.map((row) => {
      const r = decodeOutput(out, row);
      return r.kind === 'class' || r.kind === 'multilabel' ? r.scores[label]! : Number.NaN;
    });
  };
}

/** One picture per face: crop | map over crop | map alone, enlarged so a 48-pixel crop is ~200 pixels. */
export async function facePng(crop: Image8, m: OcclusionMap): Promise<Buffer> {
  const k = Math.max(1, Math.round(192 / Math.max(crop.width, crop.height)));
  return encodePng(sideBySide([enlarge(crop, k), enlarge(overlayHeat(crop, m.map), k), enlarge(heatImage(m.map, m.width, m.height), k)]));
}

export async function runExplain(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      model: { type: 'string' },
      task: { type: 'string' },
      class: { type: 'string' },
      detector: { type: 'string', default: 'yunet' },
      patch: { type: 'string' },
      stride: { type: 'string' },
      fill: { type: 'string', default: 'gray' },
      batch: { type: 'string' },
      activations: { type: 'boolean', default: false },
      layers: { type: 'string' },
      top: { type: 'string' },
      'no-occlusion': { type: 'boolean', default: false },
      threads: { type: 'string' },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${EXPLAIN_USAGE}\n`);
    return 0;
  }
  const [image, ...extra] = positionals;
  if (image === undefined || extra.length > 0) throw new OptionError(`give exactly one image (got ${positionals.length})`);
  if (values.model === undefined || values.out === undefined) throw new OptionError('--model and --out are required');
  if (!(OCCLUSION_FILLS as readonly string[]).includes(values.fill)) throw new OptionError(`--fill must be ${OCCLUSION_FILLS.join(', ')}; got ${JSON.stringify(values.fill)}`);
  const fill = values.fill as OcclusionFill;
  const patch = values.patch === undefined ? undefined : positiveInt('patch', values.patch, 1);
  const stride = values.stride === undefined ? undefined : positiveInt('stride', values.stride, 1);
  const batch = positiveInt('batch', values.batch, 256);
  const threads = values.threads === undefined ? {} : { threads: positiveInt('threads', values.threads, 1) };
  const detector = values.detector as DetectorName;
  const occlusionOn = !values['no-occlusion'];
  const layerNames = values.layers?.split(',').map((l) => l.trim()).filter((l) => l !== '');
  if (layerNames !== undefined && layerNames.length === 0) throw new OptionError('--layers needs at least one layer name');
  const wantActivations = values.activations || layerNames !== undefined;
  if (!occlusionOn && !wantActivations) throw new OptionError('--no-occlusion leaves nothing to explain: add --activations (or --layers)');
  const top = positiveInt('top', values.top, 8);

  const resolved = await createModelStore().resolveModel(values.model);
  const { manifest } = resolved;
  const acts: ActivationOutput[] = wantActivations ? pickActivations(manifest, layerNames ?? true) : [];
  const out = pickTask(manifest, values.task, occlusionOn);
  const isClass = out.decode === 'softmax' || out.decode === 'sigmoid';
  if (values.class !== undefined && !isClass) throw new OptionError(`--class: task ${out.task} of ${manifest.id} is not a class task`);
  if (values.class !== undefined && !out.labels.includes(values.class)) throw new OptionError(`--class ${values.class}: task ${out.task} of ${manifest.id} has labels ${out.labels.join(', ')}`);
  const { input } = manifest;
  // Fail on bad sizes before any model runs.
  if (patch !== undefined && patch > Math.min(input.width, input.height)) throw new OptionError(`--patch must be at most ${Math.min(input.width, input.height)} (the model's input is ${input.width}×${input.height}), got ${patch}`);

  const rgb: RgbImage = await decodeImage(image, { sourceName: image });
  const analyzer = await createAnalyzer({ models: [values.model], tasks: [out.task], detector, ...threads });
  let faces: readonly FaceResult[];
  try {
    faces = (await analyzer.analyze(rgb, { sourceName: image })).faces;
  } finally {
    await analyzer.dispose();
  }
  const classified = faces.filter((f) => f.skipped === undefined);
  if (classified.length === 0) {
    process.stderr.write(`facesense explain: ${image}: ${faces.length === 0 ? 'no face found' : 'every face is too small to classify'}; nothing to explain\n`);
    return 1;
  }

  const classifier = await createClassifier(resolved.modelPath, manifest, threads);
  const explained: (FaceExplanation | { index: number; boxPx: FaceResult['boxPx']; predicted?: string })[] = [];
  const crops: Image8[] = [];
  let maps: Record<string, Float32Array[]> = {};
  try {
    for (const [index, face] of faces.entries()) {
      if (face.skipped !== undefined) continue;
      const r = face.attributes[out.task];
      if (r === undefined || (occlusionOn && r.kind !== 'class' && r.kind !== 'multilabel')) continue;
      const predicted = r.kind === 'class' ? r.label : r.kind === 'multilabel' ? Object.entries(r.scores).sort((a, b) => b[1] - a[1])[0]![0] : undefined;
      // The analyzer's own crop: no detection for detector none, else this face's box and landmarks.
      const det: Detection | undefined = detector === 'none' ? undefined : { boxPx: face.boxPx, score: face.score, ...(face.landmarksPx === undefined ? {} : { landmarksPx: face.landmarksPx }) };
      const crop = alignFace(rgb, det, { width: input.width, height: input.height, channels: input.channels, crop: input.crop }).image;
      crops.push(crop);
      if (!occlusionOn || predicted === undefined || (r.kind !== 'class' && r.kind !== 'multilabel')) {
        explained.push({ index, boxPx: face.boxPx, ...(predicted === undefined ? {} : { predicted }) });
        continue;
      }
      const label = values.class ?? predicted;
      const occlusion = await occlusionSensitivity(crop, probabilityOf(out, classifier, label), { ...(patch === undefined ? {} : { patch }), ...(stride === undefined ? {} : { stride }), fill, batch });
      explained.push({ index, boxPx: face.boxPx, class: label, predicted, analyzerScore: r.scores[label]!, occlusion });
    }
    // Every face's maps in one batched call.
    if (acts.length > 0) maps = (await classifier.run(crops, { activations: acts.map((a) => a.layer) })).activations ?? {};
  } finally {
    await classifier.dispose();
  }

  await mkdir(values.out, { recursive: true });
  const records = [];
  for (const [k, f] of explained.entries()) {
    let record: Record<string, unknown> = { index: f.index, boxPx: f.boxPx, ...(f.predicted === undefined ? {} : { predicted: f.predicted }) };
    if ('occlusion' in f) {
      const name = `face-${f.index}.png`;
      await writeFile(join(values.out, name), await facePng(crops[k]!, f.occlusion));
      record = explanationJson(f, name);
      const peak = largestDrop(f.occlusion);
      process.stdout.write(`face ${f.index}: ${f.class} p=${f.occlusion.baseline.toFixed(3)}; largest drop ${peak.drop.toFixed(3)} with the ${f.occlusion.patch}px patch at (${peak.x}, ${peak.y}) of the ${input.width}×${input.height} crop → ${name}\n`);
    }
    if (acts.length > 0) {
      const layers = [];
      for (const a of acts) {
        const m = layerMaps(a, maps[a.layer]![k]!);
        const png = `face-${f.index}-${fileSafe(a.layer)}.png`;
        await writeFile(join(values.out, png), await encodePng(activationPicture(crops[k]!, m, top)));
        const summary = layerSummary(m, input, top);
        layers.push({ ...summary, output: a.name, png });
        const p = summary.meanMap.argmax;
        const tops = summary.topChannels.slice(0, 3).map((c) => `${c.channel} (${c.mean})`).join(', ');
        process.stdout.write(`face ${f.index} ${a.layer} ${a.channels}×${a.height}×${a.width}: channel-mean peak ${p.value} at cell (${p.x}, ${p.y}) ≈ crop (${p.crop.xPx}, ${p.crop.yPx}); most active channels ${tops} → ${png}\n`);
      }
      record = { ...record, activations: layers };
    }
    records.push(record);
  }
  const json = {
    source: image,
    model: manifest.id,
    task: out.task,
    detector,
    crop: input.crop,
    inputPx: { width: input.width, height: input.height, channels: input.channels },
    ...(acts.length > 0 ? { activations: { layers: acts, top } } : {}),
    faces: records,
  };
  await writeFile(join(values.out, 'explain.json'), `${JSON.stringify(json, null, 1)}\n`);
  return 0;
}
