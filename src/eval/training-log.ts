/** Reads the per-epoch log the trainer writes (runs/<name>/log.csv), for training-curve figures. */
import { DatasetError } from '../core/errors.js';

export const TRAINING_LOG_COLUMNS = ['epoch', 'train_loss', 'train_acc', 'val_loss', 'val_acc', 'lr', 'seconds', 'images_per_s'] as const;
export type TrainingLogRow = Readonly<Record<(typeof TRAINING_LOG_COLUMNS)[number], number>>;

/** Parses log.csv text; `source` names the file in errors. Columns may come in any order. */
export function parseTrainingLog(text: string, source: string): TrainingLogRow[] {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  const header = (lines[0] ?? '').split(',').map((h) => h.trim());
  const missing = TRAINING_LOG_COLUMNS.filter((c) => !header.includes(c));
  if (lines.length === 0 || missing.length > 0) {
    throw new DatasetError('DATASET_INVALID', `not a training log: header lacks ${missing.join(', ')} (expected ${TRAINING_LOG_COLUMNS.join(',')})`, { source });
  }
  return lines.slice(1).map((line, i) => {
    const cells = line.split(',');
    const row = Object.fromEntries(TRAINING_LOG_COLUMNS.map((c) => [c, Number(cells[header.indexOf(c)])]));
    const bad = TRAINING_LOG_COLUMNS.find((c) => !Number.isFinite(row[c]));
    if (bad !== undefined) throw new DatasetError('DATASET_INVALID', `line ${i + 2}: ${bad} is not a number`, { source });
    return row as TrainingLogRow;
  });
}
