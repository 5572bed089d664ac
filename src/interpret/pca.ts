/**
 * Principal component analysis of row vectors (embeddings, N × D): the sample covariance's
 * eigendecomposition by the cyclic Jacobi method (exact to rounding for the D ≤ a few hundred of
 * an embedding; no iteration count to tune), then projection onto the leading components.
 */

export interface Pca {
  /** Per-dimension mean that was subtracted (D). */
  readonly mean: Float64Array;
  /** Eigenvalues of the sample covariance (divisor N − 1), descending (D). */
  readonly variances: Float64Array;
  /** variances / their sum: the share of the total variance each component explains. */
  readonly explainedRatio: Float64Array;
  /** Unit eigenvectors in the same order, each oriented so its largest-|loading| entry is positive. */
  readonly components: readonly Float64Array[];
}

/**
 * Eigenvalues and eigenvectors of a symmetric matrix (row-major n × n, not modified), by cyclic
 * Jacobi rotations until the off-diagonal mass is negligible. Returns them unsorted.
 */
export function symmetricEigen(matrix: Float64Array, n: number, maxSweeps = 100): { values: Float64Array; vectors: Float64Array[] } {
  const a = Float64Array.from(matrix);
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  let scale = 0;
  for (let i = 0; i < n * n; i++) scale += a[i]! * a[i]!;
  for (let sweep = 0; sweep < maxSweeps; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += a[p * n + q]! ** 2;
    if (off <= 1e-30 * scale || off === 0) break;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q]!;
        if (apq === 0) continue;
        const app = a[p * n + p]!;
        const aqq = a[q * n + q]!;
        // Rotation angle that zeroes a[p][q] (Numerical Recipes §11.1, stable form).
        const theta = (aqq - app) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k * n + p]!;
          const akq = a[k * n + q]!;
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p * n + k]!;
          const aqk = a[q * n + k]!;
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p]!;
          const vkq = v[k * n + q]!;
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const values = new Float64Array(n);
  for (let i = 0; i < n; i++) values[i] = a[i * n + i]!;
  const vectors = Array.from({ length: n }, (_, j) => {
    const col = new Float64Array(n);
    for (let k = 0; k < n; k++) col[k] = v[k * n + j]!;
    return col;
  });
  return { values, vectors };
}

/** Sample covariance (divisor N − 1; N for a single row) of N rows of D numbers, and their mean. */
export function covariance(rows: readonly ArrayLike<number>[], d: number): { mean: Float64Array; cov: Float64Array } {
  const n = rows.length;
  const mean = new Float64Array(d);
  for (const r of rows) for (let j = 0; j < d; j++) mean[j]! += r[j]! / n;
  const cov = new Float64Array(d * d);
  const c = new Float64Array(d);
  for (const r of rows) {
    for (let j = 0; j < d; j++) c[j] = r[j]! - mean[j]!;
    for (let i = 0; i < d; i++) {
      const ci = c[i]!;
      if (ci === 0) continue;
      for (let j = i; j < d; j++) cov[i * d + j]! += ci * c[j]!;
    }
  }
  const div = Math.max(1, n - 1);
  for (let i = 0; i < d; i++) {
    for (let j = i; j < d; j++) {
      cov[i * d + j]! /= div;
      cov[j * d + i] = cov[i * d + j]!;
    }
  }
  return { mean, cov };
}

/** Fits PCA to N rows of D numbers (N ≥ 2). */
export function fitPca(rows: readonly ArrayLike<number>[], d: number): Pca {
  if (rows.length < 2) throw new RangeError(`PCA needs at least 2 rows, got ${rows.length}`);
  const bad = rows.findIndex((r) => r.length !== d);
  if (bad >= 0) throw new RangeError(`row ${bad} has ${rows[bad]!.length} numbers, expected ${d}`);
  const { mean, cov } = covariance(rows, d);
  const { values, vectors } = symmetricEigen(cov, d);
  const order = Array.from({ length: d }, (_, i) => i).sort((x, y) => values[y]! - values[x]! || x - y);
  // Rounding can leave tiny negative eigenvalues of a rank-deficient covariance: they are zero.
  const variances = Float64Array.from(order, (i) => Math.max(0, values[i]!));
  const total = variances.reduce((s, x) => s + x, 0);
  const explainedRatio = variances.map((x) => (total === 0 ? 0 : x / total));
  const components = order.map((i) => orient(vectors[i]!));
  return { mean, variances, explainedRatio, components };
}

/** Flips a vector so that its largest-magnitude entry (the first, on ties) is positive: a deterministic sign. */
function orient(v: Float64Array): Float64Array {
  let k = 0;
  for (let i = 1; i < v.length; i++) if (Math.abs(v[i]!) > Math.abs(v[k]!) + 1e-12) k = i;
  return v[k]! < 0 ? v.map((x) => -x) : v;
}

/** Coordinates of each row on the first `k` components. */
export function projectPca(p: Pca, rows: readonly ArrayLike<number>[], k = 2): Float64Array[] {
  const comps = p.components.slice(0, k);
  return rows.map((r) =>
    Float64Array.from(comps, (c) => {
      let s = 0;
      for (let j = 0; j < c.length; j++) s += (r[j]! - p.mean[j]!) * c[j]!;
      return s;
    }),
  );
}
