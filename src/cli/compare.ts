import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { FacesenseError, OptionError } from '../core/errors.js';
import { renderFigures } from '../eval/charts.js';
import { asComparableReport, compareReports, type Comparison } from '../eval/compare.js';
import { compareFigureSpecs, compareHtml, pp } from '../eval/report-html.js';

export const COMPARE_USAGE = `Usage: facesense compare <report.json|DIR>... [--out DIR]

Compares eval reports (files, or directories holding report.json) side by side: accuracy with its
95% CI, balanced accuracy, macro F1, macro ROC AUC, calibration error and F1 per class, and the
accuracy difference of each report against the first with a 95% CI — a paired bootstrap when both
reports cover the same samples in the same order (same dataset, split and --limit), an unpaired
one otherwise (a normal approximation for reports without per-sample results).

Options:
  --out DIR    also write compare.json and compare.html (one offline file: overlaid macro ROC
               curves, per-class F1 bars, accuracy differences)
  -h, --help   this text`;

async function readReport(path: string): Promise<{ source: string; json: unknown }> {
  let source = path;
  try {
    if ((await stat(path)).isDirectory()) source = join(path, 'report.json');
    const text = await readFile(source, 'utf8');
    return { source, json: JSON.parse(text) as unknown };
  } catch (e) {
    if (e instanceof SyntaxError) throw new OptionError(`${source} is not JSON (${e.message}); pass the report.json that facesense eval --out writes`);
    const code = (e as NodeJS.ErrnoException).code;
    throw new FacesenseError(code === 'ENOENT' ? 'INPUT_NOT_FOUND' : 'INPUT_UNREADABLE', `cannot read it (${code ?? String(e)})`, { source, cause: e });
  }
}

function textTable(rows: readonly (readonly string[])[]): string[] {
  const widths = rows[0]!.map((_, j) => Math.max(...rows.map((r) => r[j]!.length)));
  return rows.map((r) => r.map((c, j) => (j === 0 ? c.padEnd(widths[j]!) : c.padStart(widths[j]!))).join('  '));
}

/** The comparison as plain text: one table of models, one of F1 per class, one line per difference. */
export function comparisonLines(c: Comparison): string[] {
  const pct = (v: number | null) => (v === null ? '–' : `${(100 * v).toFixed(2)}%`);
  const f = (v: number | null) => (v === null ? '–' : v.toFixed(4));
  const models = textTable([
    ['model', 'n', 'accuracy', '95% CI', 'balanced', 'macro F1', 'macro AUC', 'ECE'],
    ...c.models.map((m) => [m.name, String(m.evaluated), pct(m.accuracy), m.accuracyCI === null ? '–' : `${pct(m.accuracyCI.lower)}–${pct(m.accuracyCI.upper)}`, pct(m.balancedAccuracy), f(m.macroF1), f(m.macroAuc), f(m.ece)]),
  ]);
  const perClass = textTable([['F1', ...c.models.map((m) => m.name)], ...c.classes.map((cls) => [cls, ...c.models.map((m) => f(m.perClassF1[cls] ?? null))])]);
  const diffs = c.differences.map((d) => `${d.name} − ${d.baseline}: accuracy ${pp(d.estimate)} [95% CI ${pp(d.lower)} … ${pp(d.upper)}] (${d.method}, ${d.samples.join(' / ')} samples)`);
  return [...models, '', ...perClass, ...(diffs.length === 0 ? [] : ['', ...diffs])];
}

export async function runCompare(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { out: { type: 'string' }, help: { type: 'boolean', short: 'h', default: false } },
  });
  if (values.help) {
    process.stdout.write(`${COMPARE_USAGE}\n`);
    return 0;
  }
  if (positionals.length === 0) throw new OptionError('give at least one report.json (or a directory holding one)');
  const inputs = [];
  for (const p of positionals) {
    const { source, json } = await readReport(p);
    inputs.push({ source, report: asComparableReport(json, source) });
  }
  const c = compareReports(inputs);
  process.stdout.write(`${comparisonLines(c).join('\n')}\n`);
  if (values.out !== undefined) {
    const figures = await renderFigures(compareFigureSpecs(c));
    await mkdir(values.out, { recursive: true });
    await writeFile(join(values.out, 'compare.json'), `${JSON.stringify(c, null, 2)}\n`);
    await writeFile(join(values.out, 'compare.html'), compareHtml(c, figures));
  }
  return 0;
}
