/**
 * FER+ labels as `fer2013new.csv` (`Usage,Image name,neutral,...,unknown,NF`, one row per row of
 * Kaggle's fer2013.csv, same order), joined row by row with a fer2013.csv for the pixels. A row
 * with an empty image name has no FER+ image (the FER+ authors dropped it) and is excluded.
 * Targets and exclusions are the same as the folder layout (see ferplus-folders.ts).
 */
import { DatasetError } from '../../core/errors.js';
import type { DatasetLoader, Sample } from '../types.js';
import { FER_USAGE_SPLITS, makeLoader, parseCsvLine, readLines } from './common.js';
import { fer2013CsvPath, readFer2013Csv } from './fer2013-csv.js';
import { FERPLUS_TARGETS, FERPLUS_VOTE_COLUMNS, ferplusLabels, parseFerplusVotes, type FerplusLoaderOptions } from './ferplus-folders.js';

export interface FerplusCsvOptions extends FerplusLoaderOptions {
  /** `fer2013new.csv`, or a folder holding it. */
  readonly root: string;
  /** Kaggle's `fer2013.csv` (or a folder holding it): the pixels. */
  readonly fer2013Csv: string;
}

export function createFerplusCsvLoader(options: FerplusCsvOptions): DatasetLoader {
  return makeLoader('ferplus-csv', options.root, FERPLUS_TARGETS, options.strict ?? false, async function* (log): AsyncGenerator<Sample> {
    const labelsFile = await fer2013CsvPath(options.root, 'fer2013new.csv');
    const pixelsFile = await fer2013CsvPath(options.fer2013Csv);
    const pixelRows = readFer2013Csv(pixelsFile, log, false)[Symbol.asyncIterator]();
    let usageCol = -1;
    let nameCol = -1;
    let voteCols: number[] = [];
    let lastLine = 1;
    try {
      for await (const { line, text } of readLines(labelsFile, 'FER+ fer2013new.csv')) {
        if (line === 1) {
          const header = text.split(',').map((h) => h.trim());
          usageCol = header.indexOf('Usage');
          nameCol = header.indexOf('Image name');
          voteCols = FERPLUS_VOTE_COLUMNS.map((c) => header.indexOf(c));
          const missing = [...(usageCol < 0 ? ['Usage'] : []), ...(nameCol < 0 ? ['Image name'] : []), ...FERPLUS_VOTE_COLUMNS.filter((_, i) => (voteCols[i] ?? -1) < 0)];
          if (missing.length > 0) {
            throw new DatasetError('DATASET_INVALID', `line 1: header lacks column(s) ${missing.join(', ')} (expected Usage,Image name,${FERPLUS_VOTE_COLUMNS.join(',')})`, { source: labelsFile });
          }
          continue;
        }
        if (text.trim() === '') continue;
        lastLine = line;
        const next = await pixelRows.next();
        if (next.done === true) {
          log.error(labelsFile, line, `no matching row in ${pixelsFile}: it has fewer rows than fer2013new.csv; the rest are skipped`);
          return;
        }
        const pixelRow = next.value;
        const cells = parseCsvLine(text);
        if (cells === undefined) {
          log.error(labelsFile, line, 'unterminated quote');
          continue;
        }
        const name = (cells[nameCol] ?? '').trim();
        const usage = (cells[usageCol] ?? '').trim();
        const split = FER_USAGE_SPLITS[usage];
        if (split === undefined) {
          log.error(labelsFile, line, `unknown Usage ${JSON.stringify(usage)} (expected Training, PublicTest or PrivateTest)`);
          continue;
        }
        if (name === '') {
          log.exclude(labelsFile, line, 'no FER+ image for this FER2013 row (empty Image name)');
          continue;
        }
        if ('bad' in pixelRow) continue; // already reported against fer2013.csv
        if (pixelRow.usage !== usage) {
          log.error(labelsFile, line, `Usage ${usage} disagrees with ${pixelsFile} line ${pixelRow.line} (${pixelRow.usage}): the files are not row-aligned`);
          continue;
        }
        const votes = parseFerplusVotes(voteCols.map((c) => cells[c] ?? ''));
        if (typeof votes === 'string') {
          log.error(labelsFile, line, votes);
          continue;
        }
        const verdict = ferplusLabels(votes, options.protocol);
        if (!verdict.ok) {
          log.report({ file: labelsFile, line, reason: `${name}: ${verdict.reason}`, kind: verdict.kind });
          continue;
        }
        yield {
          id: name,
          file: labelsFile,
          line,
          split,
          image: { kind: 'pixels', pixels: pixelRow.pixels },
          labels: { emotion: verdict.distribution, emotion_majority: verdict.majority },
        };
      }
      const extra = await pixelRows.next();
      if (extra.done !== true) log.error(pixelsFile, extra.value.line, `has more rows than ${labelsFile} (${lastLine - 1} rows); the files are not row-aligned`);
    } finally {
      await pixelRows.return?.(undefined);
    }
  });
}
