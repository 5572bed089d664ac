/** What `facesense eval` prints: plain text lines from a report. Pure. */
import type { FairnessReport } from './fairness.js';
import { metricGap, metricName, metricValue, pct } from './report-html.js';
import type { AgeEvalReport, AnyEvalReport, EvalReport } from './report.js';

/** A signed number with a true minus sign: +1.5, −2.0. */
export const signed = (v: number, digits = 1) => `${v >= 0 ? '+' : '−'}${Math.abs(v).toFixed(digits)}`;

/** What eval prints: the headline, then per class or per band, then the fairness gaps. */
export function summaryLines(r: AnyEvalReport): string[] {
  const where = `${r.modelId} on ${r.dataset.layout} ${r.dataset.split} (${r.dataset.target}, detector ${r.detector}${r.tta ? ', flip TTA' : ''})`;
  const unlabelled = r.unlabelled === undefined ? '' : ` (${r.unlabelled} more have no ${r.dataset.target} label)`;
  const counts = `  ${r.evaluated} evaluated of ${r.samples}${unlabelled}; ${r.skipped.count} skipped; ${r.seconds.toFixed(1)} s (${r.facesPerSecond.toFixed(0)} faces/s)`;
  const lines = r.kind === 'value' ? ageLines(r, where) : classLines(r, where);
  lines.splice(2, 0, counts);
  return [...lines, ...fairnessLines(r.fairness)];
}

function classLines(r: EvalReport, where: string): string[] {
  const topK = r.topK.map((t) => `top-${t.k} ${pct(t.accuracy)}`).join(', ');
  const lines = [
    `${where}: accuracy ${pct(r.accuracy)} [95% CI ${pct(r.accuracyCI.lower)}–${pct(r.accuracyCI.upper)}], balanced ${pct(r.balancedAccuracy)}, macro F1 ${r.macroF1.toFixed(4)}`,
    `  ${topK}; macro AUC ${r.macroAuc?.toFixed(4) ?? '–'}; ECE ${r.calibration.ece.toFixed(4)}`,
  ];
  const m = r.labelMap;
  if (!m.identity) {
    lines.push(`  label map: ${m.mapped.map((x) => `${x.modelLabels.join('+')}→${x.class}`).join(', ')}`);
    if (m.unmatchedClasses.length > 0) lines.push(`  no counterpart (skipped ${m.unmatchedSamples} samples): ${m.unmatchedClasses.join(', ')}`);
    if (m.droppedLabels.length > 0) lines.push(`  model labels dropped: ${m.droppedLabels.join(', ')} (top label of ${m.topLabelDropped} samples)`);
  }
  for (const c of r.classes) {
    const p = r.perClass[c]!;
    lines.push(`  ${c.padEnd(12)} recall ${pct(p.recall).padStart(7)}  precision ${pct(p.precision).padStart(7)}  AUC ${p.auc?.toFixed(3) ?? '  –  '}  support ${p.support}`);
  }
  return lines;
}

function ageLines(r: AgeEvalReport, where: string): string[] {
  const cs = r.cumulativeScore.filter((c) => c.kYears % 5 === 0 || c.kYears <= 3).map((c) => `CS@${c.kYears} ${pct(c.share)}`).join(', ');
  return [
    `${where}: MAE ${r.maeYears.toFixed(2)} years [95% CI ${r.maeCI.lower.toFixed(2)}–${r.maeCI.upper.toFixed(2)}], RMSE ${r.rmseYears.toFixed(2)}, mean signed error ${signed(r.meanSignedErrorYears, 2)}`,
    `  ${cs}; paper 000 ±2.5 / ±5 years ${pct(r.paper000.within2_5Years)} / ${pct(r.paper000.within5Years)}`,
    ...Object.values(r.bands).map((b) => `  ${b.name} bands (${b.labels.length}): exact ${pct(b.exact)}, ±1 band ${pct(b.withinOne)}; bands weighted equally ${pct(b.balancedExact)} / ${pct(b.balancedWithinOne)}`),
  ];
}

/** Per attribute: the first metric of every group, and its largest gap. */
function fairnessLines(f: FairnessReport | undefined): string[] {
  if (f === undefined) return [];
  const metric = f.metrics[0]!;
  return f.attributes.map((a) => {
    const groups = a.groups.map((g) => `${g.group} ${metricValue(metric, g.metrics[metric])} (${g.count})`).join(', ');
    const gap = a.gaps.find((g) => g.metric === metric);
    return `  by ${a.attribute}, ${metricName(metric)}: ${groups}${gap === undefined ? '' : `; gap ${metricGap(metric, gap.gap)} (${gap.highest.group} − ${gap.lowest.group})`}`;
  });
}
