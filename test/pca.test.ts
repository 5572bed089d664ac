import assert from 'node:assert/strict';
import { test } from 'node:test';
import { seededRandom } from '../src/data/loaders/common.js';
import { componentsFor } from '../src/cli/embed.js';
import { covariance, fitPca, projectPca, symmetricEigen } from '../src/interpret/pca.js';
import { umap2d } from '../src/interpret/umap.js';

const close = (a: number, b: number, tol = 1e-9) => assert.ok(Math.abs(a - b) <= tol, `${a} ≠ ${b}`);

test('PCA of four points on two orthogonal diagonals, worked by hand', () => {
  // ±2 along (1,1)/√2 and ±1 along (1,−1)/√2, shifted by (10, −5). Sample covariance (N − 1 = 3):
  // 2·2²/3 = 8/3 along the first diagonal, 2·1²/3 = 2/3 along the second: shares 0.8 and 0.2.
  const r = Math.SQRT2;
  const rows = [
    [10 + r, -5 + r],
    [10 - r, -5 - r],
    [10 + 1 / r, -5 - 1 / r],
    [10 - 1 / r, -5 + 1 / r],
  ];
  const p = fitPca(rows, 2);
  close(p.mean[0]!, 10);
  close(p.mean[1]!, -5);
  close(p.variances[0]!, 8 / 3);
  close(p.variances[1]!, 2 / 3);
  close(p.explainedRatio[0]!, 0.8);
  close(p.explainedRatio[1]!, 0.2);
  close(p.components[0]![0]!, 1 / r);
  close(p.components[0]![1]!, 1 / r);
  close(p.components[1]![0]!, 1 / r, 1e-9); // tie in |loading|: the first entry is made positive
  close(p.components[1]![1]!, -1 / r);
  const xy = projectPca(p, rows, 2);
  const expected = [[2, 0], [-2, 0], [0, 1], [0, -1]];
  xy.forEach((pt, i) => pt.forEach((v, j) => close(v, expected[i]![j]!)));
});

test('Jacobi eigendecomposition: A·v = λ·v, orthonormal vectors, eigenvalues sum to the trace', () => {
  const random = seededRandom(3);
  const n = 12;
  const rows = Array.from({ length: 40 }, () => Array.from({ length: n }, () => random() - 0.5));
  const { cov } = covariance(rows, n);
  const { values, vectors } = symmetricEigen(cov, n);
  let trace = 0;
  for (let i = 0; i < n; i++) trace += cov[i * n + i]!;
  close(values.reduce((a, b) => a + b, 0), trace, 1e-12);
  vectors.forEach((v, k) => {
    for (let i = 0; i < n; i++) {
      let av = 0;
      for (let j = 0; j < n; j++) av += cov[i * n + j]! * v[j]!;
      close(av, values[k]! * v[i]!, 1e-10);
    }
    vectors.forEach((w, l) => close(v.reduce((s, x, i) => s + x * w[i]!, 0), k === l ? 1 : 0, 1e-10));
  });
  const p = fitPca(rows, n);
  for (let k = 1; k < n; k++) assert.ok(p.variances[k - 1]! >= p.variances[k]!, 'sorted descending');
});

test('PCA of collinear points: one component explains everything; bad input is refused', () => {
  const rows = [0, 1, 2, 5].map((t) => [t, 2 * t, -t, 0, 3]);
  const p = fitPca(rows, 5);
  close(p.explainedRatio[0]!, 1, 1e-12);
  assert.equal(componentsFor(p.explainedRatio, 0.9), 1);
  assert.equal(componentsFor([0.5, 0.3, 0.2], 0.8), 2);
  assert.throws(() => fitPca([[1, 2]], 2), /at least 2 rows/);
  assert.throws(() => fitPca([[1, 2], [3]], 2), /row 1 has 1 numbers, expected 2/);
});

test('UMAP of two far-apart clusters keeps them apart, and is the same for the same seed', () => {
  const random = seededRandom(5);
  const rows = Array.from({ length: 40 }, (_, i) => Array.from({ length: 8 }, () => (i < 20 ? 0 : 10) + random()));
  const a = umap2d(rows, { seed: 1, neighbors: 5 });
  assert.equal(a.length, 40);
  assert.ok(a.every((p) => p.length === 2 && p.every(Number.isFinite)));
  assert.deepEqual(umap2d(rows, { seed: 1, neighbors: 5 }), a);
  const centre = (lo: number) => [0, 1].map((j) => a.slice(lo, lo + 20).reduce((s, p) => s + p[j]!, 0) / 20);
  const spread = (lo: number) => Math.max(...a.slice(lo, lo + 20).map((p) => Math.hypot(p[0]! - centre(lo)[0]!, p[1]! - centre(lo)[1]!)));
  const gap = Math.hypot(centre(0)[0]! - centre(20)[0]!, centre(0)[1]! - centre(20)[1]!);
  assert.ok(gap > spread(0) && gap > spread(20), `clusters overlap: gap ${gap}, spreads ${spread(0)}, ${spread(20)}`);
  assert.throws(() => umap2d(rows.slice(0, 2)), /at least 3 rows/);
});
