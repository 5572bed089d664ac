/**
 * The timeline of `facesense video --timeline`: one self-contained HTML file (no scripts, no
 * links) with an inline SVG per track and class task, the smoothed probability of each label over
 * time as a solid line and the raw per-frame probability as a faint one; grey bands mark where the
 * face was unreliable (the quality flags: turned away, tiny, blurred, occluded, doubtful detection).
 */
import type { TrackSummary, TrackTimeline, UnreliableSpan } from './summary.js';

/** Colour-blind-safe categorical palette (Okabe & Ito), then Tableau's for more labels. */
const PALETTE = ['#E69F00', '#56B4E9', '#009E73', '#F0E442', '#0072B2', '#D55E00', '#CC79A7', '#000000', '#8c564b', '#7f7f7f', '#bcbd22', '#17becf'];

function esc(s: string): string {
  return s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function niceStep(span: number, target: number): number {
  const raw = span / Math.max(1, target);
  const p = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw) ?? 10 * p;
}

/** One chart: time (s) on x from `x0Ms` to `x1Ms`, probability on y. */
export function seriesSvg(labels: readonly string[], points: readonly (readonly number[])[], x0Ms: number, x1Ms: number, unreliable: readonly UnreliableSpan[] = []): string {
  const W = 900;
  const H = 240;
  const m = { l: 44, r: 130, t: 10, b: 32 };
  const pw = W - m.l - m.r;
  const ph = H - m.t - m.b;
  const span = Math.max(1, x1Ms - x0Ms);
  const x = (t: number) => m.l + ((t - x0Ms) / span) * pw;
  const y = (p: number) => m.t + (1 - p) * ph;
  const parts: string[] = [];
  for (const u of unreliable) {
    // A one-frame span is still visible: at least 2 px wide.
    const x0 = x(u.startMs);
    const w = Math.max(2, x(u.endMs) - x0);
    parts.push(`<rect class="unreliable" x="${x0.toFixed(1)}" y="${m.t}" width="${w.toFixed(1)}" height="${ph}" fill="#888" fill-opacity="0.2"><title>unreliable ${(u.startMs / 1000).toFixed(2)}–${(u.endMs / 1000).toFixed(2)} s: ${esc(u.reasons.join(', '))}</title></rect>`);
  }
  for (const p of [0, 0.25, 0.5, 0.75, 1]) {
    parts.push(`<line x1="${m.l}" x2="${m.l + pw}" y1="${y(p).toFixed(1)}" y2="${y(p).toFixed(1)}" stroke="#ddd"/>`);
    parts.push(`<text x="${m.l - 6}" y="${(y(p) + 4).toFixed(1)}" text-anchor="end">${p.toFixed(2)}</text>`);
  }
  const step = niceStep(span / 1000, 8);
  for (let s = Math.ceil(x0Ms / 1000 / step) * step; s <= x1Ms / 1000 + 1e-9; s += step) {
    const px = x(s * 1000).toFixed(1);
    parts.push(`<line x1="${px}" x2="${px}" y1="${m.t + ph}" y2="${m.t + ph + 4}" stroke="#555"/>`);
    parts.push(`<text x="${px}" y="${m.t + ph + 17}" text-anchor="middle">${Number(s.toFixed(3))}</text>`);
  }
  parts.push(`<text x="${m.l + pw / 2}" y="${H - 2}" text-anchor="middle">time (s)</text>`);
  parts.push(`<rect x="${m.l}" y="${m.t}" width="${pw}" height="${ph}" fill="none" stroke="#555"/>`);
  const n = labels.length;
  labels.forEach((label, k) => {
    const colour = PALETTE[k % PALETTE.length]!;
    const line = (offset: number) => points.map((p) => `${x(p[0]!).toFixed(1)},${y(p[offset + k]!).toFixed(1)}`).join(' ');
    if (points.length === 1) {
      const p = points[0]!;
      parts.push(`<circle cx="${x(p[0]!).toFixed(1)}" cy="${y(p[1 + k]!).toFixed(1)}" r="3" fill="${colour}"><title>${esc(label)}</title></circle>`);
    } else if (points.length > 1) {
      parts.push(`<polyline points="${line(1 + n)}" fill="none" stroke="${colour}" stroke-width="1" stroke-opacity="0.3"/>`);
      parts.push(`<polyline points="${line(1)}" fill="none" stroke="${colour}" stroke-width="2"><title>${esc(label)} (smoothed)</title></polyline>`);
    }
    const ly = m.t + 8 + k * 16;
    parts.push(`<line x1="${W - m.r + 10}" x2="${W - m.r + 30}" y1="${ly}" y2="${ly}" stroke="${colour}" stroke-width="3"/>`);
    parts.push(`<text x="${W - m.r + 36}" y="${ly + 4}">${esc(label)}</text>`);
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="DejaVu Sans, Arial, sans-serif" font-size="11">${parts.join('')}</svg>`;
}

export interface TimelineInput {
  readonly source: string;
  readonly durationMs: number | undefined;
  readonly smoothing: string;
  readonly tracks: readonly TrackSummary[];
  readonly timelines: readonly TrackTimeline[];
  /** Shown at the top when set (no faces, a damaged video). */
  readonly notes?: readonly string[];
}

export function timelineHtml(input: TimelineInput): string {
  const x1 = input.durationMs ?? Math.max(0, ...input.tracks.map((t) => t.lastMs));
  const sections = input.tracks.map((t) => {
    const tl = input.timelines.find((s) => s.trackId === t.trackId);
    const facts = Object.entries(t.tasks)
      .map(([task, s]) => (s.kind === 'class' ? `${esc(task)}: mostly <b>${esc(s.dominant)}</b> (${((s.share[s.dominant] ?? 0) * 100).toFixed(0)}% of frames)` : s.kind === 'value' ? `${esc(task)}: mean ${s.mean.toFixed(2)}` : ''))
      .filter(Boolean)
      .join('; ');
    const spans = tl?.unreliable ?? [];
    const charts = (tl?.series ?? []).map((s) => `<h3>${esc(s.task)}</h3>${seriesSvg(s.labels, s.points, 0, x1, spans)}`).join('');
    const q = t.quality;
    const reasons = Object.entries(q.reasons).map(([r, n]) => `${esc(r)} ${n}`).join(', ');
    const quality = q.unreliableFrames === 0 ? '' : `<p class="unreliable">Unreliable on ${q.unreliableFrames} of ${q.assessedFrames} frames (${(q.unreliableShare * 100).toFixed(0)}%; ${reasons})${charts === '' ? `: ${spans.map((u) => `${(u.startMs / 1000).toFixed(2)}–${(u.endMs / 1000).toFixed(2)} s`).join(', ')}` : ', shaded grey below'}.</p>`;
    return `<section><h2>Track ${t.trackId}</h2><p>${(t.firstMs / 1000).toFixed(2)}–${(t.lastMs / 1000).toFixed(2)} s, ${t.frames} frames (${t.detectedFrames} detected)${facts ? `; ${facts}` : ''}</p>${quality}${charts}</section>`;
  });
  const notes = (input.notes ?? []).map((n) => `<p class="note">${esc(n)}</p>`).join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>facesense timeline — ${esc(input.source)}</title>
<style>body{font-family:DejaVu Sans,Arial,sans-serif;margin:24px;color:#222}h2{margin-bottom:4px}h3{margin:8px 0 2px;font-size:14px}.note{background:#fff3cd;padding:8px}</style></head>
<body><h1>Timeline: ${esc(input.source)}</h1>
<p>Per track, each label's probability over time: smoothed (${esc(input.smoothing)}) solid, raw per frame faint; grey bands: the face was unreliable there (quality flags).</p>${notes}
${sections.join('\n') || '<p>No faces were found.</p>'}
</body></html>
`;
}
