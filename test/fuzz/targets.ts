/**
 * Property-based fuzzing targets (fast-check) for every parser of outside text: FER2013 CSV rows
 * (pixels and CSV records), FER+ votes, UTKFace file names, model manifests, option strings and
 * Haar cascade XML. The property: each parser returns a value or its documented "reason" string,
 * or throws a FacesenseError — never anything else — and what it accepts is well-formed.
 * Used by test/fuzz.test.ts (a few thousand cases) and bench/fuzz.ts (100,000 per parser).
 */
import fc from 'fast-check';
import { parseCsvLine, parseNonNegativeInt } from '../../src/data/loaders/common.js';
import { parseFerPixels } from '../../src/data/loaders/fer2013-csv.js';
import { ferplusLabels, parseFerplusVotes } from '../../src/data/loaders/ferplus-folders.js';
import { parseUtkName } from '../../src/data/loaders/utkface.js';
import { parseHaarCascade } from '../../src/node/detect/viola-jones/cascade.js';
import { FacesenseError } from '../../src/core/errors.js';
import { validateManifest } from '../../src/core/models/manifest.js';
import { parseSequenceWindow } from '../../src/node/video/sequence.js';
import { parseSmoothing } from '../../src/core/video/smooth.js';
import { parseNumberOption, RULES } from '../../src/core/validate.js';

export interface FuzzTarget {
  readonly name: string;
  /** The property over one generated input; throws (an AssertionError or the parser's untyped error) on failure. */
  readonly property: fc.IProperty<[unknown]> | fc.IPropertyWithHooks<[unknown]>;
}

/** Runs `f`; a FacesenseError is an accepted outcome (undefined), anything else propagates. */
function typedOnly<T>(f: () => T): T | undefined {
  try {
    return f();
  } catch (e) {
    if (e instanceof FacesenseError) return undefined;
    throw e;
  }
}

function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`property violated: ${what}`);
}

const digitsOrJunk = fc.oneof(
  fc.integer({ min: 0, max: 300 }).map(String),
  fc.constantFrom('', '-1', '1.5', '256', '00', ' ', '\t', 'x', '1e2', '٣', '\u0000'),
  fc.string({ maxLength: 4 }),
);

/** FER2013 pixel fields: mostly near-valid (2304 values with noise), sometimes junk. */
const ferPixels = fc.oneof(
  fc.tuple(fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 2304, maxLength: 2304 }), fc.nat(2400), digitsOrJunk, fc.constantFrom(' ', '  ', '\t', ' \t')).map(([v, at, junk, sep]) => {
    const cells = v.map(String);
    if (at < cells.length && at % 3 === 0) cells[at] = junk;
    return cells.join(sep);
  }),
  fc.array(digitsOrJunk, { maxLength: 3000 }).map((a) => a.join(' ')),
  fc.string({ maxLength: 200 }),
);

const csvRecord = fc.array(fc.oneof(fc.string({ maxLength: 8 }), fc.constantFrom('"', '""', '","', ',', '"a"', ' "b" ', '\r')), { maxLength: 12 }).map((a) => a.join(''));

const utkName = fc.oneof(
  fc.tuple(fc.integer({ min: -5, max: 200 }), fc.integer({ min: -1, max: 3 }), fc.integer({ min: -1, max: 6 }), fc.string({ maxLength: 20 }), fc.constantFrom('.jpg.chip.jpg', '.jpg', '', '.', '..')).map(([a, g, r, d, ext]) => `${a}_${g}_${r}_${d}${ext}`),
  fc.array(digitsOrJunk, { maxLength: 6 }).map((a) => `${a.join('_')}.jpg`),
  fc.string({ maxLength: 60 }),
);

const VALID_MANIFEST = {
  id: 'fuzz',
  format: 1,
  input: { name: 'input', width: 48, height: 48, channels: 1, layout: 'NCHW', crop: { mode: 'aligned', eyeDistance: 0.42, eyeY: 0.38 }, normalisation: { kind: 'meanstd', scale: 1, mean: [0.5], std: [0.25] } },
  outputs: [
    { task: 'emotion', name: 'emotion', decode: 'softmax', labels: ['a', 'b', 'c'] },
    { task: 'age', name: 'age', decode: 'expectation', labels: ['0', '1'], binValues: [0, 1], bands: [{ name: 'b', labels: ['x', 'y'], starts: [0, 1] }] },
  ],
  embedding: { name: 'emb', size: 8 },
  activations: [{ name: 'act', layer: 'l', channels: 2, height: 3, width: 3 }],
};

/** Paths into the valid manifest, to overwrite with hostile JSON values. */
function paths(v: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  if (typeof v !== 'object' || v === null) return [prefix];
  const keys = Array.isArray(v) ? v.map((_, i) => i) : Object.keys(v);
  return [prefix, ...keys.flatMap((k) => paths((v as Record<string | number, unknown>)[k], [...prefix, k]))];
}
const MANIFEST_PATHS = paths(VALID_MANIFEST).filter((p) => p.length > 0);

function setPath(root: unknown, path: readonly (string | number)[], value: unknown): unknown {
  const copy = structuredClone(root) as Record<string | number, unknown>;
  let node = copy;
  for (const k of path.slice(0, -1)) {
    const next = node[k];
    // An earlier edit replaced a parent with a scalar: nothing left to edit on this path.
    if (typeof next !== 'object' || next === null) return copy;
    node = next as Record<string | number, unknown>;
  }
  const last = path[path.length - 1]!;
  if (value === undefined) delete node[last];
  else node[last] = value;
  return copy;
}

const hostileJson = fc.oneof(
  fc.constantFrom(undefined, null, 0, -1, 0.5, 1e308, Number.NaN, Number.POSITIVE_INFINITY, '', 'NCHW', 'softmax', [], {}, [0], ['a'], true),
  fc.jsonValue({ maxDepth: 2 }),
);

const manifest = fc.oneof(
  fc.array(fc.tuple(fc.constantFrom(...MANIFEST_PATHS), hostileJson), { minLength: 1, maxLength: 3 }).map((edits) => edits.reduce<unknown>((m, [p, v]) => setPath(m, p, v), VALID_MANIFEST)),
  fc.anything({ maxDepth: 3 }),
);

const optionText = fc.oneof(
  fc.constantFrom('', ' ', '0', '-0', '1', '1.5', '-1', '1e9', '1e-9', 'NaN', 'Infinity', '-Infinity', '0x10', '0b1', '1_000', '١', '  2  ', '2abc', 'ema:0.3', 'window:5', 'none', 'ema:', 'window:-1', 'track', ':', '::'),
  fc.double().map(String),
  fc.integer().map(String),
  fc.string({ maxLength: 12 }),
);

/** A tiny cascade in opencv_traincascade format, with hostile values spliced into its fields. */
function cascadeXml(f: { stageType: string; featureType: string; width: string; height: string; rect: string; internal: string; leaf: string; threshold: string; tilted: string; extra: string }): string {
  return `<?xml version="1.0"?>
<opencv_storage>
<cascade>
  <stageType>${f.stageType}</stageType>
  <featureType>${f.featureType}</featureType>
  <height>${f.height}</height>
  <width>${f.width}</width>
  <stageParams><maxWeakCount>1</maxWeakCount></stageParams>
  <featureParams><maxCatCount>0</maxCatCount></featureParams>
  <stageNum>1</stageNum>
  <stages>
    <_>
      <maxWeakCount>1</maxWeakCount>
      <stageThreshold>${f.threshold}</stageThreshold>
      <weakClassifiers>
        <_>
          <internalNodes>${f.internal}</internalNodes>
          <leafValues>${f.leaf}</leafValues></_></weakClassifiers></_></stages>
  <features>
    <_>
      <rects>
        <_>${f.rect}</_></rects>
      <tilted>${f.tilted}</tilted></_></features>${f.extra}</cascade>
</opencv_storage>`;
}

const num = fc.oneof(fc.integer({ min: -5, max: 30 }).map(String), fc.double({ min: -2, max: 2, noNaN: true }).map(String), fc.constantFrom('', 'NaN', 'x', '1e400'));
const cascade = fc.oneof(
  fc
    .record({
      stageType: fc.constantFrom('BOOST', 'BOOST', 'GAB', ''),
      featureType: fc.constantFrom('HAAR', 'HAAR', 'LBP', ''),
      width: fc.oneof(fc.constant('24'), num),
      height: fc.oneof(fc.constant('24'), num),
      rect: fc.oneof(fc.constant('0 0 12 12 -1.'), fc.array(num, { maxLength: 7 }).map((a) => a.join(' '))),
      internal: fc.oneof(fc.constant('0 -1 0 0.5'), fc.array(num, { maxLength: 6 }).map((a) => a.join(' '))),
      leaf: fc.oneof(fc.constant('-1. 1.'), fc.array(num, { maxLength: 3 }).map((a) => a.join(' '))),
      threshold: fc.oneof(fc.constant('-0.5'), num),
      tilted: fc.constantFrom('0', '1', '', 'x'),
      extra: fc.constantFrom('', '<_>', '<features/>', '<stages><_/></stages>', '&amp;', '<!-- x -->', '<![CDATA[x]]>'),
    })
    .map(cascadeXml),
  fc.string({ maxLength: 300 }),
  fc.string({ maxLength: 40 }).map((s) => `<opencv_storage><cascade>${s}</cascade></opencv_storage>`),
);

export const FUZZ_TARGETS: readonly FuzzTarget[] = [
  {
    name: 'fer2013 pixels',
    property: fc.property(ferPixels, (text) => {
      const r = parseFerPixels(text as string);
      if (typeof r !== 'string') check(r.length === 2304, 'accepted pixels are 2304 values');
    }),
  },
  {
    name: 'csv record',
    property: fc.property(csvRecord, (text) => {
      const r = parseCsvLine(text as string);
      if (!(text as string).includes('"')) check(r !== undefined && r.join(',') === text, 'an unquoted record splits on commas');
    }),
  },
  {
    name: 'non-negative int',
    property: fc.property(optionText, (text) => {
      const r = parseNonNegativeInt(text as string);
      if (r !== undefined) check(Number.isInteger(r) && r >= 0, 'a non-negative integer');
    }),
  },
  {
    name: 'ferplus votes',
    property: fc.property(fc.array(digitsOrJunk, { maxLength: 12 }), (cells) => {
      const r = parseFerplusVotes(cells as string[]);
      if (typeof r !== 'string') {
        const v = ferplusLabels(r);
        if (v.ok) check(v.distribution.every((p) => p >= 0 && p <= 1) && Math.abs(v.distribution.reduce((a, b) => a + b, 0) - 1) < 1e-9, 'votes give a distribution');
      }
    }),
  },
  {
    name: 'utkface name',
    property: fc.property(utkName, (name) => {
      const r = parseUtkName(name as string);
      if (typeof r !== 'string') check(r.age >= 0 && r.age <= 130 && [0, 1].includes(r.gender) && r.race >= 0 && r.race <= 4, 'labels in range');
    }),
  },
  {
    name: 'model manifest',
    property: fc.property(manifest, (m) => {
      const r = typedOnly(() => validateManifest(m, 'fuzz.json'));
      if (r !== undefined) check(r.outputs.length > 0 && r.outputs.every((o) => o.labels.length > 0) && r.input.width > 0, 'an accepted manifest is usable');
    }),
  },
  {
    name: 'option strings',
    property: fc.property(optionText, (text) => {
      for (const [name, rule] of Object.entries(RULES)) {
        const v = typedOnly(() => parseNumberOption(name, text as string, rule));
        if (v !== undefined) check(Number.isFinite(v) && (rule.min === undefined || v >= rule.min) && (!('integer' in rule) || Number.isInteger(v)), `--${name} accepted an out-of-range value`);
      }
      typedOnly(() => parseSmoothing(text as string));
      typedOnly(() => parseSequenceWindow(text as string, 16));
    }),
  },
  {
    name: 'haar cascade xml',
    property: fc.property(cascade, (xml) => {
      typedOnly(() => parseHaarCascade(xml as string, 'fuzz.xml'));
    }),
  },
];

/** Runs one target for `numRuns` cases; returns the failure message, or undefined. */
export function runTarget(t: FuzzTarget, numRuns: number, seed?: number): string | undefined {
  const details = fc.check(t.property, { numRuns, ...(seed === undefined ? {} : { seed }) });
  return details.failed ? (fc.defaultReportMessage(details) ?? 'failed') : undefined;
}
