import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DatasetError, OptionError } from '../src/core/errors.js';
import { parseCsvLine, seededShuffle } from '../src/data/loaders/common.js';
import { assignSubjectFolds, createCkplusLoader, subjectFolds } from '../src/data/loaders/ckplus.js';
import { createFer2013CsvLoader, FER2013_CLASSES, parseFerPixels } from '../src/data/loaders/fer2013-csv.js';
import { createFer2013FoldersLoader } from '../src/data/loaders/fer2013-folders.js';
import { createFerplusCsvLoader } from '../src/data/loaders/ferplus-csv.js';
import { createFerplusFoldersLoader, ferplusLabels, parseFerplusProtocol } from '../src/data/loaders/ferplus-folders.js';
import { createFoldersLoader } from '../src/data/loaders/folders.js';
import { createLoader } from '../src/data/loaders/index.js';
import { ageBand, countPerSplit, createUtkfaceLoader, defaultUtkSplitFile, generateUtkfaceSplit, parseUtkName, readUtkSplitFile } from '../src/data/loaders/utkface.js';
import type { DatasetLoader, Problem, Sample } from '../src/data/types.js';
import {
  UTK,
  writeCkplus48,
  writeCkplusOriginal,
  writeFer2013Csv,
  writeFer2013Folders,
  writeFerplusCsv,
  writeFerplusFolders,
  writeGray,
  writeText,
  writeUtkface,
} from './fixtures/datasets.js';

async function collect(loader: DatasetLoader): Promise<Sample[]> {
  const out: Sample[] = [];
  for await (const s of loader.samples()) out.push(s);
  return out;
}

function where(p: Problem): string {
  return p.line === undefined ? p.file : `${p.file}:${p.line}`;
}

/** Asserts the loader throws a DatasetError naming `source` when strict. */
async function assertStrictThrows(loader: DatasetLoader, source: RegExp, code: DatasetError['code'] = 'DATASET_INVALID'): Promise<void> {
  await assert.rejects(collect(loader), (e: unknown) => {
    assert.ok(e instanceof DatasetError, `expected DatasetError, got ${String(e)}`);
    assert.equal(e.code, code);
    assert.match(e.source ?? '', source);
    return true;
  });
}

describe('dataset loaders', () => {
  let tmp = '';
  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'facesense-loaders-'));
  });
  after(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  describe('helpers', () => {
    it('parses quoted CSV cells', () => {
      assert.deepEqual(parseCsvLine('fer0000000.png,"(0, 0, 48, 48)",4,0'), ['fer0000000.png', '(0, 0, 48, 48)', '4', '0']);
      assert.deepEqual(parseCsvLine('a,"say ""hi""",,'), ['a', 'say "hi"', '', '']);
      assert.equal(parseCsvLine('a,"open'), undefined);
    });

    it('shuffles reproducibly', () => {
      const items = Array.from({ length: 50 }, (_, i) => i);
      assert.deepEqual(seededShuffle(items, 7), seededShuffle(items, 7));
      assert.notDeepEqual(seededShuffle(items, 7), seededShuffle(items, 8));
      assert.deepEqual([...seededShuffle(items, 7)].sort((a, b) => a - b), items);
    });

    it('parses FER2013 pixel strings strictly', () => {
      assert.equal((parseFerPixels(new Array(2304).fill('255').join(' ')) as Uint8Array)[2303], 255);
      assert.match(parseFerPixels('1 2 3') as string, /expected 2304 pixel values, found 3/);
      assert.match(parseFerPixels(new Array(2304).fill('256').join(' ')) as string, /out of range/);
      assert.match(parseFerPixels(new Array(2304).fill('1.5').join(' ')) as string, /invalid character/);
    });
  });

  describe('fer2013-csv', () => {
    let csv = '';
    before(async () => {
      csv = join(tmp, 'fer2013-csv', 'fer2013.csv');
      await writeFer2013Csv(csv);
    });

    it('lists good rows with Kaggle classes and Usage splits', async () => {
      const loader = createFer2013CsvLoader({ root: join(tmp, 'fer2013-csv') });
      assert.deepEqual(loader.targets[0]?.classes, FER2013_CLASSES);
      const samples = await collect(loader);
      assert.deepEqual(
        samples.map((s) => [s.split, s.labels['emotion'], s.line]),
        [
          ['train', 0, 2],
          ['val', 3, 3],
          ['test', 6, 6],
        ],
      );
      const first = samples[0];
      assert.ok(first?.image.kind === 'pixels');
      assert.equal(first.image.pixels.width, 48);
      assert.equal(first.image.pixels.data[100], 10);
      assert.equal(first.id, 'fer2013.csv#0000000');
    });

    it('reports malformed rows with file and line, and throws under strict', async () => {
      const loader = createFer2013CsvLoader({ root: csv });
      await collect(loader);
      const problems = loader.problems.map((p) => `${where(p)} ${p.reason}`);
      assert.equal(problems.length, 4);
      assert.match(problems[0] ?? '', /fer2013\.csv:4 expected 2304 pixel values, found 2000/);
      assert.match(problems[1] ?? '', /fer2013\.csv:5 unknown emotion "7"/);
      assert.match(problems[2] ?? '', /fer2013\.csv:7 unknown Usage "Other"/);
      assert.match(problems[3] ?? '', /fer2013\.csv:8 pixel value out of range/);
      assert.ok(loader.problems.length > 0, 'every() over an empty list would pass vacuously');
      assert.ok(loader.problems.every((p) => p.kind === 'error'));
      await assertStrictThrows(createFer2013CsvLoader({ root: csv, strict: true }), /fer2013\.csv:4$/);
    });

    it('fails on a missing file or a file without a pixels column', async () => {
      await assertStrictThrows(createFer2013CsvLoader({ root: join(tmp, 'nope.csv') }), /nope\.csv/, 'INPUT_NOT_FOUND');
      const bad = join(tmp, 'fer2013-csv', 'bad-header.csv');
      await writeText(bad, 'emotion,Usage\n0,Training\n');
      await assertStrictThrows(createFer2013CsvLoader({ root: bad }), /bad-header\.csv/);
    });
  });

  describe('fer2013-folders', () => {
    let root = '';
    before(async () => {
      root = join(tmp, 'fer2013');
      await writeFer2013Folders(root);
    });

    it('takes the split from the file-name prefix and the class from the folder', async () => {
      const loader = createFer2013FoldersLoader({ root });
      const samples = await collect(loader);
      assert.deepEqual(
        samples.map((s) => [s.id, s.split, s.labels['emotion']]),
        [
          ['train/happy/Training_050.jpg', 'train', 3],
          ['train/sad/Training_075.jpg', 'train', 4],
          ['train/angry/Training_100.jpg', 'train', 0],
          ['test/sad/PublicTest_7.jpg', 'val', 4],
          ['test/neutral/PrivateTest_8.jpg', 'test', 6],
        ],
      );
      const problems = loader.problems.map((p) => `${where(p)} ${p.reason}`).sort();
      assert.equal(problems.length, 3);
      assert.match(problems[0] ?? '', /test\/contempt unknown emotion folder 'contempt'/);
      assert.match(problems[1] ?? '', /train\/angry\/Extra_10\.jpg file name does not start with Training_/);
      assert.match(problems[2] ?? '', /train\/angry\/notes\.txt not an image file/);
    });

    it('throws under strict and when the root is missing', async () => {
      await assertStrictThrows(createFer2013FoldersLoader({ root, strict: true }), /contempt$/);
      await assertStrictThrows(createFer2013FoldersLoader({ root: join(tmp, 'missing') }), /missing$/, 'INPUT_NOT_FOUND');
    });
  });

  describe('ferplus-folders', () => {
    let root = '';
    before(async () => {
      root = join(tmp, 'ferplus');
      await writeFerplusFolders(root);
    });

    it('derives the distribution and majority, excluding unknown / not-a-face majorities', async () => {
      const loader = createFerplusFoldersLoader({ root });
      const samples = await collect(loader);
      assert.deepEqual(
        samples.map((s) => [s.id, s.split, s.labels['emotion_majority']]),
        [
          ['FER2013Train/fer0000000.png', 'train', 0],
          ['FER2013Train/fer0000006.png', 'train', 2],
          ['FER2013Valid/fer0000010.png', 'val', 7],
          ['FER2013Test/fer0000020.png', 'test', 5],
        ],
      );
      assert.deepEqual(samples[0]?.labels['emotion'], [0.75, 0.25, 0, 0, 0, 0, 0, 0]);
      assert.deepEqual(samples[3]?.labels['emotion'], [0, 0, 0, 0, 0.3, 0.7, 0, 0]);
      const label = join(root, 'FER2013Train', 'label.csv');
      const byLine = new Map(loader.problems.map((p) => [p.line, p]));
      assert.equal(loader.problems.length, 5);
      assert.ok(loader.problems.every((p) => p.file === label));
      assert.equal(byLine.get(2)?.kind, 'excluded');
      assert.match(byLine.get(2)?.reason ?? '', /majority vote is unknown/);
      assert.equal(byLine.get(3)?.kind, 'excluded');
      assert.match(byLine.get(3)?.reason ?? '', /not a face/);
      assert.equal(byLine.get(4)?.code, 'INPUT_NOT_FOUND');
      assert.match(byLine.get(4)?.reason ?? '', /fer0000003\.png: image file not found/);
      assert.match(byLine.get(5)?.reason ?? '', /vote for happiness is "x"/);
      assert.match(byLine.get(6)?.reason ?? '', /expected 10 vote columns, found 9/);
    });

    it('is not stopped by protocol exclusions under strict, only by errors', async () => {
      await assertStrictThrows(createFerplusFoldersLoader({ root, strict: true }), /label\.csv:4$/, 'INPUT_NOT_FOUND');
    });

    it('majority protocol: drops single votes and keeps only labels holding more than half the rest', async () => {
      const samples = await collect(createFerplusFoldersLoader({ root, protocol: 'majority' }));
      // fer0000006 (surprise 4 / sadness 2 / unknown 4: 4 of 10 is not more than half) drops out.
      assert.deepEqual(
        samples.map((s) => [s.id, s.labels['emotion_majority']]),
        [
          ['FER2013Train/fer0000000.png', 0],
          ['FER2013Valid/fer0000010.png', 7],
          ['FER2013Test/fer0000020.png', 5],
        ],
      );
      assert.deepEqual(samples[0]?.labels['emotion'], [1, 0, 0, 0, 0, 0, 0, 0]);
      // 4 happiness, 3 anger, three single votes: the singles go, 4 of 7 is a majority.
      const singles = ferplusLabels([1, 4, 1, 0, 3, 0, 1, 0, 0, 0], 'majority');
      assert.ok(singles.ok && singles.majority === 1);
      // Plurality keeps it too, but with every vote in the distribution.
      const plural = ferplusLabels([1, 4, 1, 0, 3, 0, 1, 0, 0, 0]);
      assert.ok(plural.ok && plural.majority === 1 && plural.distribution[0] === 0.1);
      // 5 of 10 is not more than half.
      const half = ferplusLabels([5, 5, 0, 0, 0, 0, 0, 0, 0, 0], 'majority');
      assert.ok(!half.ok && half.kind === 'excluded' && /more than half/.test(half.reason));
      // A majority of unknown votes excludes the image; all-single votes leave nothing.
      const unknown = ferplusLabels([2, 0, 0, 0, 0, 0, 0, 0, 7, 1], 'majority');
      assert.ok(!unknown.ok && /unknown/.test(unknown.reason));
      const scattered = ferplusLabels([1, 1, 1, 1, 1, 1, 1, 1, 1, 1], 'majority');
      assert.ok(!scattered.ok && scattered.kind === 'excluded');
      const plurality = await collect(createFerplusFoldersLoader({ root, protocol: 'plurality' }));
      assert.equal(plurality.length, 4);
    });

    it('--protocol takes plurality or majority, and only for the FER+ layouts', async () => {
      assert.equal(parseFerplusProtocol(undefined), undefined);
      assert.equal(parseFerplusProtocol('majority'), 'majority');
      assert.throws(() => parseFerplusProtocol('reference'), (e: unknown) => e instanceof OptionError && /plurality or majority/.test(e.message));
      await assert.rejects(createLoader('fer2013-folders', { root, ferplusProtocol: 'majority' }), OptionError);
      const loader = await createLoader('ferplus-folders', { root, ferplusProtocol: 'majority' });
      assert.equal((await collect(loader)).length, 3);
    });

    it('breaks ties toward the first column, as numpy argmax does', () => {
      const tie = ferplusLabels([0, 0, 4, 2, 0, 0, 0, 0, 4, 0]);
      assert.ok(tie.ok && tie.majority === 2);
      const none = ferplusLabels([0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
      assert.ok(!none.ok && none.kind === 'error');
    });
  });

  describe('ferplus-csv', () => {
    let dir = '';
    before(async () => {
      dir = join(tmp, 'ferplus-csv');
      await writeFerplusCsv(dir);
    });

    it('joins fer2013new.csv with fer2013.csv row by row', async () => {
      const loader = createFerplusCsvLoader({ root: dir, fer2013Csv: join(dir, 'fer2013.csv') });
      const samples = await collect(loader);
      assert.deepEqual(
        samples.map((s) => [s.id, s.split, s.labels['emotion_majority'], s.image.kind === 'pixels' ? s.image.pixels.data[0] : -1]),
        [
          ['fer0000000.png', 'train', 1, 10],
          ['fer0000002.png', 'val', 4, 30],
          ['fer0000004.png', 'test', 6, 50],
        ],
      );
      const problems = loader.problems.map((p) => `${where(p)} ${p.kind} ${p.reason}`);
      assert.equal(problems.length, 2);
      assert.match(problems[0] ?? '', /fer2013new\.csv:3 excluded no FER\+ image/);
      assert.match(problems[1] ?? '', /fer2013new\.csv:5 error Usage Training disagrees with .*fer2013\.csv line 5/);
    });

    it('needs the pixels file', async () => {
      await assert.rejects(createLoader('ferplus-csv', { root: dir }), OptionError);
      await assertStrictThrows(createFerplusCsvLoader({ root: dir, fer2013Csv: join(dir, 'absent.csv') }), /absent\.csv/, 'INPUT_NOT_FOUND');
    });
  });

  describe('utkface', () => {
    let paths = { imageDir: '', splitFile: '', appearance: '' };
    before(async () => {
      paths = await writeUtkface(join(tmp, 'utk'));
    });

    it('parses names, follows the split list and joins appearance labels', async () => {
      const loader = createUtkfaceLoader({ root: join(tmp, 'utk'), splitFile: paths.splitFile, appearance: paths.appearance });
      assert.deepEqual(
        loader.targets.map((t) => `${t.name}:${t.kind}`),
        ['age:regression', 'gender:class', 'ethnicity:class', 'glasses:class', 'beard:class', 'moustache:class'],
      );
      const samples = await collect(loader);
      assert.deepEqual(
        samples.map((s) => [s.id, s.split]),
        [
          [UTK.a, 'train'],
          [UTK.b, 'val'],
          [UTK.c, 'test'],
        ],
      );
      assert.deepEqual(samples[0]?.labels, { age: 25, gender: 0, ethnicity: 0, glasses: 1, beard: 2, moustache: 0 });
      // Its appearance row is flagged unsure: labels kept, marked for evaluation slices.
      assert.deepEqual(samples[0]?.groups, { gender: 'male', ethnicity: 'White', ageBand: '20-29', appearanceUnsure: 'yes' });
      assert.deepEqual(samples[1]?.labels, { age: 3, gender: 1, ethnicity: 2 });
      assert.deepEqual(samples[1]?.groups, { gender: 'female', ethnicity: 'Asian', ageBand: '3-9' });
      assert.deepEqual(samples[2]?.labels, { age: 80, gender: 1, ethnicity: 4 }); // its appearance row is invalid

      const problems = loader.problems.map((p) => `${where(p)} ${p.kind} ${p.reason}`);
      const find = (re: RegExp): string | undefined => problems.find((p) => re.test(p));
      assert.ok(find(/appearance\.tsv:3 error glasses is "5"/));
      assert.ok(find(/appearance\.tsv:4 error nobody\.jpg\.chip\.jpg: no such image/));
      assert.ok(find(new RegExp(`${UTK.unlisted} excluded not in the split list`)));
      assert.ok(find(new RegExp(`${UTK.malformed} error malformed UTKFace name.*3 field`)));
      assert.ok(find(new RegExp(`${UTK.badRace} error unknown race 9`)));
      assert.ok(find(new RegExp(`${UTK.missing} error listed in .*split\\.json \\(val\\) but not found`)));
      assert.equal(problems.length, 6);
    });

    it('throws the first error under strict', async () => {
      await assertStrictThrows(createUtkfaceLoader({ root: paths.imageDir, splitFile: paths.splitFile, appearance: paths.appearance, strict: true }), /appearance\.tsv:3$/);
      await assertStrictThrows(createUtkfaceLoader({ root: paths.imageDir, splitFile: paths.splitFile, strict: true }), /61_1_20170109142408075\.jpg\.chip\.jpg$/);
    });

    it('parses names and age bands', () => {
      assert.deepEqual(parseUtkName('116_1_3_20170120134921760.jpg.chip.jpg'), { age: 116, gender: 1, race: 3 });
      assert.match(parseUtkName('61_3_20170109150557335.jpg.chip.jpg') as string, /malformed/);
      assert.match(parseUtkName('20_2_0_20170109150557335.jpg.chip.jpg') as string, /unknown gender 2/);
      assert.deepEqual([0, 2, 3, 9, 10, 45, 69, 70, 116].map(ageBand), ['0-2', '0-2', '3-9', '3-9', '10-19', '40-49', '60-69', '70+', '70+']);
    });

    it('generates a reproducible disjoint 80/10/10 split, leaving malformed names out', () => {
      const names = Array.from({ length: 1000 }, (_, i) => `${i % 90}_0_0_2017${String(i).padStart(6, '0')}.jpg.chip.jpg`);
      const bad = ['61_1_20170109142408075.jpg.chip.jpg', '20_5_0_20170101000000000.jpg.chip.jpg'];
      const a = generateUtkfaceSplit([...names, ...bad], 5);
      const b = generateUtkfaceSplit([...bad, ...names].reverse(), 5);
      assert.deepEqual(a.splits, b.splits);
      assert.deepEqual(a.counts, { train: 800, val: 100, test: 100 });
      assert.equal(new Set([...(a.splits['train'] ?? []), ...(a.splits['val'] ?? []), ...(a.splits['test'] ?? [])]).size, 1000);
      assert.deepEqual(
        a.excluded?.map((x) => x.file),
        [...bad].sort(),
      );
      assert.match(a.excluded?.[1]?.reason ?? '', /malformed UTKFace name.*one label missing/);
      assert.match(a.excluded?.[0]?.reason ?? '', /unknown gender 5/);
      // The malformed names change nothing else: the split depends only on the valid names.
      assert.deepEqual(generateUtkfaceSplit(names, 5).splits, a.splits);
      assert.notDeepEqual(generateUtkfaceSplit(names, 6).splits['test'], a.splits['test']);
      assert.deepEqual(countPerSplit(a, [a.splits['test']?.[0] ?? '', a.splits['train']?.[3] ?? '', 'absent.jpg']), { train: 1, val: 0, test: 1 });
    });

    it('ships the part-1 split list with the project', async () => {
      const file = await defaultUtkSplitFile();
      const split = await readUtkSplitFile(file);
      const all = Object.values(split.splits).flat();
      // 9,780 part-1 chips, two of them with a label missing from the name.
      assert.equal(all.length, 9778);
      assert.equal(new Set(all).size, 9778);
      assert.deepEqual(split.counts, { train: 7822, val: 978, test: 978 });
      assert.deepEqual(
        split.excluded?.map((x) => x.file),
        ['61_1_20170109142408075.jpg.chip.jpg', '61_3_20170109150557335.jpg.chip.jpg'],
      );
      assert.ok(all.length > 0, 'every() over an empty list would pass vacuously');
      assert.ok(all.every((n) => !n.includes('/')), 'file names only');
      assert.ok(all.every((n) => typeof parseUtkName(n) !== 'string'), 'only names with valid labels');
      // The 3,200 appearance-labelled faces (issue 6) join by file name, so they inherit this split.
      assert.deepEqual(split.appearanceCounts, { train: 2566, val: 305, test: 329 });
      assert.match(await readFile(file, 'utf8'), /"seed": 2017/);
      // The stored list is exactly what the generator makes from its names and seed.
      assert.deepEqual(generateUtkfaceSplit([...all, ...(split.excluded ?? []).map((x) => x.file)].reverse(), split.seed).splits, split.splits);
    });
  });

  describe('ckplus', () => {
    it('lists CK+48 with subject and sequence, in subject-independent folds', async () => {
      const root = join(tmp, 'ckplus48');
      await writeCkplus48(root);
      const loader = createCkplusLoader({ root, folds: 3 });
      const samples = await collect(loader);
      assert.equal(samples.length, 21);
      assert.deepEqual(loader.targets[0]?.classes, ['anger', 'contempt', 'disgust', 'fear', 'happy', 'sadness', 'surprise']);
      const first = samples[0];
      assert.equal(first?.id, 'anger/S010_004_00000017.png');
      assert.equal(first?.subject, 'S010');
      assert.equal(first?.sequence, 'S010_004');
      assert.equal(first?.labels['emotion'], 0);
      const foldOfSubject = new Map<string, string>();
      for (const s of samples) {
        assert.match(s.split, /^fold[012]$/);
        const seen = foldOfSubject.get(s.subject ?? '');
        assert.ok(seen === undefined || seen === s.split, `subject ${s.subject} in two folds`);
        foldOfSubject.set(s.subject ?? '', s.split);
      }
      assert.equal(new Set(foldOfSubject.values()).size, 3);
      const problems = loader.problems.map((p) => `${where(p)} ${p.reason}`).sort();
      assert.equal(problems.length, 2);
      assert.match(problems[0] ?? '', /S010-004-17\.png file name is not S<subject>/);
      assert.match(problems[1] ?? '', /neutral unknown emotion folder/);
      await assertStrictThrows(createCkplusLoader({ root, strict: true }), /S010-004-17\.png$/);
      const noFolds = await collect(createCkplusLoader({ root: join(root, 'CK+48'), folds: 1 }));
      assert.ok(noFolds.length > 0, 'every() over an empty list would pass vacuously');
      assert.ok(noFolds.every((s) => s.split === 'all'));
    });

    it('reads the original CK+ layout: last frames labelled, optional neutral first frames', async () => {
      const root = join(tmp, 'ckplus-original');
      await writeCkplusOriginal(root);
      const loader = createCkplusLoader({ root, folds: 1 });
      const samples = await collect(loader);
      assert.deepEqual(
        samples.map((s) => [s.id, s.labels['emotion']]),
        [
          ['S005/001/S005_001_00000003.png', 2],
          ['S005/001/S005_001_00000004.png', 2],
          ['S005/001/S005_001_00000005.png', 2],
          ['S010/001/S010_001_00000004.png', 6],
          ['S010/001/S010_001_00000005.png', 6],
          ['S010/001/S010_001_00000006.png', 6],
        ],
      );
      assert.equal(samples[0]?.sequence, 'S005_001');
      const problems = loader.problems.map((p) => `${where(p)} ${p.reason}`).sort();
      assert.equal(problems.length, 2);
      assert.match(problems[0] ?? '', /S011_001_00000004_emotion\.txt:1 emotion label "9\.5000000e\+00" is not a whole number/);
      assert.match(problems[1] ?? '', /S099_001_00000009_emotion\.txt no image sequence/);

      const withNeutral = createCkplusLoader({ root, folds: 1, neutralFrames: 1, peakFrames: 1 });
      assert.equal(withNeutral.targets[0]?.classes?.[0], 'neutral');
      const ns = await collect(withNeutral);
      assert.deepEqual(
        ns.map((s) => [s.id, s.labels['emotion']]),
        [
          ['S005/001/S005_001_00000001.png', 0],
          ['S005/001/S005_001_00000005.png', 3],
          ['S010/001/S010_001_00000001.png', 0],
          ['S010/001/S010_001_00000006.png', 7],
        ],
      );
    });

    it('makes balanced subject-independent folds', () => {
      const samples = Array.from({ length: 40 }, (_, i) => ({ subject: `S${i % 9}`, i }));
      const folds = subjectFolds(samples, 4, 3);
      assert.equal(folds.length, 4);
      const tested = folds.flatMap((f) => f.test.map((s) => s.i)).sort((a, b) => a - b);
      assert.deepEqual(tested, samples.map((s) => s.i));
      for (const f of folds) {
        assert.equal(f.train.length + f.test.length, 40);
        const trainSubjects = new Set(f.train.map((s) => s.subject));
        assert.ok(f.subjects.length > 0, 'every() over an empty list would pass vacuously');
        assert.ok(f.subjects.every((s) => !trainSubjects.has(s)));
      }
      // Whole subjects of 4-5 samples: folds can differ by at most one subject's worth.
      const sizes = folds.map((f) => f.test.length);
      assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 5, `fold sizes ${sizes.join(', ')}`);
      assert.deepEqual(subjectFolds(samples, 4, 3).map((f) => f.subjects), folds.map((f) => f.subjects));
      assert.throws(() => subjectFolds(samples, 10, 1), OptionError);
      assert.throws(() => subjectFolds<{ subject?: string }>([{}], 2, 1), OptionError);
      assert.throws(() => assignSubjectFolds(new Map([['a', [1]]]), 1, 1), OptionError);
      // Stratified: two classes, subjects each with one class; every fold gets both classes.
      const strat = Array.from({ length: 16 }, (_, i) => ({ subject: `P${i}`, cls: i < 8 ? 0 : 1 }));
      for (const f of subjectFolds(strat, 4, 9, (s) => s.cls)) assert.deepEqual(f.test.map((s) => s.cls).sort(), [0, 0, 1, 1]);
    });
  });

  describe('folders', () => {
    it('reads <root>/<class>/ and reports stray files', async () => {
      const root = join(tmp, 'folders-flat');
      await writeGray(join(root, 'dog', 'b.png'), 1);
      await writeGray(join(root, 'cat', 'a.png'), 2);
      await writeGray(join(root, 'cat', 'c.jpg'), 3);
      await writeText(join(root, 'cat', 'labels.csv'), 'x');
      await writeText(join(root, 'README.txt'), 'x');
      const loader = await createFoldersLoader({ root });
      assert.deepEqual(loader.targets, [{ name: 'label', kind: 'class', classes: ['cat', 'dog'] }]);
      const samples = await collect(loader);
      assert.deepEqual(
        samples.map((s) => [s.id, s.split, s.labels['label']]),
        [
          ['cat/a.png', 'all', 0],
          ['dog/b.png', 'all', 1],
          ['cat/c.jpg', 'all', 0],
        ],
      );
      assert.deepEqual(loader.problems.map((p) => p.reason).sort(), ['file outside any class folder', 'not an image file (by extension)']);
      await assertStrictThrows(await createFoldersLoader({ root, strict: true }), /README\.txt$/);
    });

    it('recognises a split level', async () => {
      const root = join(tmp, 'folders-split');
      await writeGray(join(root, 'train', 'cat', 'a.png'), 1);
      await writeGray(join(root, 'validation', 'dog', 'b.png'), 2);
      await writeGray(join(root, 'test', 'cat', 'c.png'), 3);
      const loader = await createLoader('folders', { root });
      const samples = await collect(loader);
      assert.deepEqual(
        samples.map((s) => [s.id, s.split, s.labels['label']]),
        [
          ['train/cat/a.png', 'train', 0],
          ['validation/dog/b.png', 'val', 1],
          ['test/cat/c.png', 'test', 0],
        ],
      );
    });
  });
});
