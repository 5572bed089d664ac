/**
 * Library scenarios of the hostile corpus, one per process: `node scenarios.js <name> <corpus dir>`.
 * Prints one JSON line `{ ok: [...sources], typed: [...codes], untyped: [...messages] }`; the replay
 * runner judges it (and the exit status: an unhandled rejection kills the process, which counts as
 * a crash). `<good>` in `ok` stands for the corpus's good photo.
 */
import { join } from 'node:path';
import type { Analyzer, AnalyzeOptions } from '../../src/core/analyzer.js';
import { createAnalyzer, type NodeAnalyzerOptions as AnalyzerOptions } from '../../src/node/analyzer.js';
import { FacesenseError } from '../../src/core/errors.js';
import type { ImageInput } from '../../src/core/types.js';

const [name, dir] = process.argv.slice(2) as [string | undefined, string | undefined];
const good = join(dir ?? '.', 'good.jpg');
const ok: string[] = [];
const typed: string[] = [];
const untyped: string[] = [];

function record(e: unknown): void {
  if (e instanceof FacesenseError) typed.push(e.code);
  else untyped.push(e instanceof Error ? `${e.name}: ${e.message}` : String(e));
}

async function attempt(f: () => Promise<unknown>): Promise<void> {
  try {
    await f();
  } catch (e) {
    record(e);
  }
}

const open = (o: AnalyzerOptions = {}) => createAnalyzer({ tasks: ['emotion'], ...o });
const hostile = (v: unknown) => v as ImageInput;

async function withAnalyzer(f: (a: Analyzer) => Promise<void>): Promise<void> {
  const a = await open();
  try {
    await f(a);
  } finally {
    await a.dispose();
  }
}

async function collect(a: Analyzer, inputs: Iterable<ImageInput> | AsyncIterable<ImageInput>, opts: AnalyzeOptions & { concurrency?: number } = {}, stopAfter = Infinity): Promise<void> {
  let n = 0;
  for await (const item of a.analyzeMany(inputs, opts)) {
    if (item.ok) ok.push(item.source === good ? '<good>' : item.source);
    else typed.push(item.error.code);
    if (++n >= stopAfter) break;
  }
}

const SCENARIOS: Record<string, () => Promise<void>> = {
  'analyze-null': () => withAnalyzer((a) => attempt(() => a.analyze(hostile(null)))),
  'analyze-undefined': () => withAnalyzer((a) => attempt(() => a.analyze(hostile(undefined)))),
  'analyze-number': () => withAnalyzer((a) => attempt(() => a.analyze(hostile(42)))),
  'analyze-empty-string': () => withAnalyzer((a) => attempt(() => a.analyze(''))),
  'analyze-data-null': () => withAnalyzer((a) => attempt(() => a.analyze(hostile({ data: null, width: 2, height: 2, channels: 3 })))),
  'analyze-data-string': () => withAnalyzer((a) => attempt(() => a.analyze(hostile({ data: 'abc', width: 1, height: 1, channels: 3 })))),
  'analyze-object': () => withAnalyzer((a) => attempt(() => a.analyze(hostile({ path: good })))),
  'analyze-nan-size': () => withAnalyzer((a) => attempt(() => a.analyze({ data: new Uint8Array(12), width: Number.NaN, height: 2, channels: 3 }))),
  'analyze-bad-options': () =>
    withAnalyzer(async (a) => {
      for (const detect of [{ scoreThreshold: -1 }, { scoreThreshold: Number.NaN }, { maxFaces: -1 }, { maxFaces: 1.5 }, { minFacePx: Number.POSITIVE_INFINITY }]) await attempt(() => a.analyze(good, { detect }));
    }),
  'analyzer-bad-threads': async () => {
    for (const threads of [1.5, -1, 100000, Number.NaN]) await attempt(() => open({ threads }));
  },
  'analyzer-bad-pixel-limit': async () => {
    for (const pixelLimit of [0, -1, 1e12, Number.NaN, 1.5]) await attempt(() => open({ pixelLimit }));
  },
  'analyzer-bad-detect': async () => {
    for (const detect of [{ scoreThreshold: 2 }, { nmsThreshold: -0.5 }, { maxFaces: 0 }]) await attempt(() => open({ detect }));
    await attempt(() => open({ refineLandmarks: 1e9 }));
  },
  // The batch scenarios: the good photo's result must come back.
  'batch-dispose-during': async () => {
    const a = await open();
    const run = collect(a, [good, good, good, good], { concurrency: 2 }).catch(record);
    await new Promise((r) => setTimeout(r, 50));
    await a.dispose();
    await run;
  },
  'batch-break': () => withAnalyzer((a) => collect(a, [good, good, good, good, good], { concurrency: 3 }, 1)),
  'batch-throwing-iterable': () =>
    withAnalyzer((a) =>
      attempt(() =>
        collect(a, (function* () {
          yield good;
          yield good;
          throw new FacesenseError('INVALID_OPTION', 'the input iterable failed');
        })()),
      ),
    ),
  'batch-abort': () =>
    withAnalyzer(async (a) => {
      const ctl = new AbortController();
      const inputs = (async function* () {
        yield good;
        await new Promise((r) => setTimeout(r, 20));
        yield good;
        ctl.abort();
        yield good;
      })();
      await attempt(() => collect(a, inputs, { signal: ctl.signal, concurrency: 1 }));
    }),
  'batch-bad-inputs': () => withAnalyzer((a) => collect(a, [hostile(null), good, hostile(undefined), hostile({ data: null, width: 1, height: 1, channels: 3 }), '/dev/zero', hostile(7), new Uint8Array(0)])),
  'many-not-iterable': () => withAnalyzer((a) => attempt(() => collect(a, null as unknown as Iterable<ImageInput>))),
  'dispose-during-analyze': async () => {
    const a = await open();
    const p = a.analyze(good).then(() => ok.push('<good>'), record);
    await a.dispose();
    await p;
  },
  'abort-analyze': () =>
    withAnalyzer(async (a) => {
      const ctl = new AbortController();
      ctl.abort();
      await attempt(() => a.analyze(good, { signal: ctl.signal }));
    }),
  'crops-one-bad': () =>
    withAnalyzer(async (a) => {
      const items = await a.classifyCropsSettled([good, join(dir ?? '.', 'text.jpg'), good, hostile(null)]);
      for (const it of items) if (it.ok) ok.push('<good>');
      else typed.push(it.error.code);
    }),
  'analyze-after-dispose': async () => {
    const a = await open();
    await a.dispose();
    await attempt(() => a.analyze(good));
  },
  'double-dispose': async () => {
    const a = await open();
    const p = a.analyze(good).then(() => ok.push('<good>'), record);
    await Promise.all([a.dispose(), a.dispose()]);
    await p;
  },
};

const run = name === undefined ? undefined : SCENARIOS[name];
// `node --test dist/test/` runs every file under it, this one without arguments: nothing to do.
if (name === undefined) process.exitCode = 0;
else if (run === undefined) {
  process.stderr.write(`unknown scenario ${name}\n`);
  process.exit(3);
}
if (run !== undefined) {
  await run();
  process.stdout.write(`${JSON.stringify({ ok, typed, untyped })}\n`);
}
