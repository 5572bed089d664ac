/**
 * File sink for a shared `--out` directory: each job's records go to their own file, written to a
 * temporary name, synced and renamed into place, so a redelivered job atomically replaces its
 * earlier file and a reader never sees half a file. Layout: DIR/<batch>/jobs/<job>.jsonl,
 * DIR/<batch>/segments/<source hash>-<index>.json.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { ResultRecord } from './records.js';
import type { ResultSink, SegmentOutput } from './sink.js';

async function writeReplace(path: string, text: string): Promise<void> {
  // Unique per writer: two workers holding the same job (a stalled one and its replacement) never share a temp file.
  const tmp = `${path}.${hostname()}-${process.pid}-${randomBytes(4).toString('hex')}.tmp`;
  const fh = await open(tmp, 'w');
  try {
    await fh.writeFile(text);
    await fh.datasync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
}

const listJson = async (dir: string, ext: string) => (await readdir(dir).catch(() => [] as string[])).filter((n) => n.endsWith(ext)).sort();

export function createFileSink(root: string): ResultSink {
  const jobs = (b: string) => join(root, b, 'jobs');
  const segs = (b: string) => join(root, b, 'segments');
  return {
    async writeImages(batchId, jobId, records) {
      await mkdir(jobs(batchId), { recursive: true });
      await writeReplace(join(jobs(batchId), `${jobId}.jsonl`), records.map((r) => `${JSON.stringify(r)}\n`).join(''));
    },
    async *readImages(batchId) {
      const all: ResultRecord[] = [];
      for (const name of await listJson(jobs(batchId), '.jsonl')) {
        for (const line of (await readFile(join(jobs(batchId), name), 'utf8')).split('\n')) if (line !== '') all.push(JSON.parse(line) as ResultRecord);
      }
      yield* all.sort((a, b) => (a.source < b.source ? -1 : a.source > b.source ? 1 : 0));
    },
    async writeSegment(batchId, s) {
      await mkdir(segs(batchId), { recursive: true });
      const key = createHash('sha256').update(s.source).digest('hex').slice(0, 16);
      await writeReplace(join(segs(batchId), `${key}-${String(s.index).padStart(5, '0')}.json`), JSON.stringify(s));
    },
    async readSegments(batchId) {
      const out: SegmentOutput[] = [];
      for (const name of await listJson(segs(batchId), '.json')) out.push(JSON.parse(await readFile(join(segs(batchId), name), 'utf8')) as SegmentOutput);
      return out;
    },
    async drop(batchId) {
      await rm(join(root, batchId), { recursive: true, force: true });
    },
    async close() {},
  };
}
