/**
 * PostgreSQL sink (`pg`). One table per kind of row:
 *   facesense_images    one row per input  (batch_id, source)         with the full record as jsonb
 *   facesense_faces     one row per face   (batch_id, source, face)   box, score, attributes
 *   facesense_segments  one row per video segment (batch_id, source, segment) with its frames
 * A job's rows are written in one transaction that upserts the image row and replaces its face
 * rows, so a redelivered job overwrites its own rows instead of adding more.
 */
import pg from 'pg';
import type { ResultRecord } from './records.js';
import type { ResultSink, SegmentOutput } from './sink.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS facesense_images (
  batch_id text NOT NULL, source text NOT NULL, job_id text NOT NULL,
  ok boolean NOT NULL, error_code text, error_message text,
  width_px integer, height_px integer, faces integer NOT NULL,
  record jsonb NOT NULL, updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (batch_id, source));
CREATE TABLE IF NOT EXISTS facesense_faces (
  batch_id text NOT NULL, source text NOT NULL, face integer NOT NULL,
  x_px real, y_px real, w_px real, h_px real, score real, skipped text,
  attributes jsonb NOT NULL,
  PRIMARY KEY (batch_id, source, face),
  FOREIGN KEY (batch_id, source) REFERENCES facesense_images ON DELETE CASCADE);
CREATE TABLE IF NOT EXISTS facesense_segments (
  batch_id text NOT NULL, source text NOT NULL, segment integer NOT NULL,
  start_ms double precision NOT NULL, end_ms double precision NOT NULL, data jsonb NOT NULL,
  PRIMARY KEY (batch_id, source, segment));`;

/** Schema creation by many workers at once races in the catalogue; an advisory lock serialises it. */
const SCHEMA_LOCK = 0x66616365;

export async function createPostgresSink(url: string): Promise<ResultSink> {
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  pool.on('error', () => undefined); // an idle client's lost connection: the next query reconnects
  const c = await pool.connect();
  try {
    await c.query('BEGIN');
    await c.query('SELECT pg_advisory_xact_lock($1)', [SCHEMA_LOCK]);
    await c.query(SCHEMA);
    await c.query('COMMIT');
  } catch (e) {
    await c.query('ROLLBACK').catch(() => undefined);
    throw e;
  } finally {
    c.release();
  }

  async function tx(fn: (c: pg.PoolClient) => Promise<void>): Promise<void> {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await fn(client);
      await client.query('COMMIT');
    } catch (e) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw e;
    } finally {
      client.release();
    }
  }

  return {
    async writeImages(batchId, jobId, records) {
      await tx(async (client) => {
        for (const r of records) {
          await client.query(
            `INSERT INTO facesense_images (batch_id, source, job_id, ok, error_code, error_message, width_px, height_px, faces, record, updated_at)
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10, now())
             ON CONFLICT (batch_id, source) DO UPDATE SET job_id = EXCLUDED.job_id, ok = EXCLUDED.ok, error_code = EXCLUDED.error_code,
               error_message = EXCLUDED.error_message, width_px = EXCLUDED.width_px, height_px = EXCLUDED.height_px,
               faces = EXCLUDED.faces, record = EXCLUDED.record, updated_at = now()`,
            [batchId, r.source, jobId, r.ok, r.ok ? null : r.error.code, r.ok ? null : r.error.message, r.ok ? r.widthPx : null, r.ok ? r.heightPx : null, r.ok ? r.faces.length : 0, JSON.stringify(r)],
          );
          await client.query('DELETE FROM facesense_faces WHERE batch_id = $1 AND source = $2', [batchId, r.source]);
          if (!r.ok || r.faces.length === 0) continue;
          const params: unknown[] = [];
          const rows = r.faces.map((f, i) => {
            const k = params.length;
            params.push(batchId, r.source, i, f.boxPx.x, f.boxPx.y, f.boxPx.width, f.boxPx.height, f.score, f.skipped?.code ?? null, JSON.stringify(f.attributes));
            return `(${Array.from({ length: 10 }, (_, j) => `$${k + j + 1}`).join(',')})`;
          });
          await client.query(`INSERT INTO facesense_faces (batch_id, source, face, x_px, y_px, w_px, h_px, score, skipped, attributes) VALUES ${rows.join(',')}`, params);
        }
      });
    },
    async *readImages(batchId) {
      // Pages by key so an export of millions of rows never holds them all.
      let after = '';
      for (;;) {
        const { rows } = await pool.query<{ source: string; record: ResultRecord }>('SELECT source, record FROM facesense_images WHERE batch_id = $1 AND source > $2 ORDER BY source LIMIT 1000', [batchId, after]);
        if (rows.length === 0) return;
        for (const row of rows) yield row.record;
        after = rows[rows.length - 1]!.source;
      }
    },
    async writeSegment(batchId, s) {
      await pool.query(
        `INSERT INTO facesense_segments (batch_id, source, segment, start_ms, end_ms, data) VALUES ($1,$2,$3,$4,$5,$6)
         ON CONFLICT (batch_id, source, segment) DO UPDATE SET start_ms = EXCLUDED.start_ms, end_ms = EXCLUDED.end_ms, data = EXCLUDED.data`,
        [batchId, s.source, s.index, s.startMs, s.endMs, JSON.stringify(s.data)],
      );
    },
    async readSegments(batchId) {
      const { rows } = await pool.query<{ source: string; segment: number; start_ms: number; end_ms: number; data: unknown }>('SELECT source, segment, start_ms, end_ms, data FROM facesense_segments WHERE batch_id = $1 ORDER BY source, segment', [batchId]);
      return rows.map((r): SegmentOutput => ({ source: r.source, index: r.segment, startMs: r.start_ms, endMs: r.end_ms, data: r.data }));
    },
    async drop(batchId) {
      await tx(async (client) => {
        await client.query('DELETE FROM facesense_images WHERE batch_id = $1', [batchId]);
        await client.query('DELETE FROM facesense_segments WHERE batch_id = $1', [batchId]);
      });
    },
    async close() {
      await pool.end();
    },
  };
}
