/**
 * UMAP (McInnes et al. 2018) through PAIR's umap-js: a non-linear 2-D map of the embeddings that
 * keeps neighbourhoods. Seeded, so a rerun on the same rows draws the same map.
 */
import { requireOptional } from '../optional-deps.js';
import { seededRandom } from '../data/loaders/common.js';

export interface UmapOptions {
  /** Neighbours that define the local structure. @default 15 (capped at rows − 1) */
  readonly neighbors?: number;
  /** How tightly points may pack in the map. @default 0.1 */
  readonly minDist?: number;
  /** Optimisation epochs. @default umap-js's choice (500 under 10k rows, else 200) */
  readonly epochs?: number;
  /** @default 0 */
  readonly seed?: number;
}

export const DEFAULT_UMAP = { neighbors: 15, minDist: 0.1, seed: 0 } as const;

/** 2-D UMAP coordinates of each row (at least 3 rows). */
export function umap2d(rows: readonly ArrayLike<number>[], o: UmapOptions = {}): number[][] {
  if (rows.length < 3) throw new RangeError(`UMAP needs at least 3 rows, got ${rows.length}`);
  const { UMAP } = requireOptional<typeof import('umap-js')>('umap-js');
  const model = new UMAP({
    nComponents: 2,
    nNeighbors: Math.min(o.neighbors ?? DEFAULT_UMAP.neighbors, rows.length - 1),
    minDist: o.minDist ?? DEFAULT_UMAP.minDist,
    random: seededRandom(o.seed ?? DEFAULT_UMAP.seed),
    ...(o.epochs === undefined ? {} : { nEpochs: o.epochs }),
  });
  return model.fit(rows.map((r) => Array.from(r)));
}
