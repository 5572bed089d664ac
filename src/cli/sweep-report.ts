/**
 * `facesense sweep-report`: a sweep's results table (training/sweep.py results.csv, or JSON rows)
 * drawn as a heat map of one metric over two grid keys — paper 000's depth × width, dropout and
 * input-size studies.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { FacesenseError, OptionError } from '../core/errors.js';
import { renderSvg } from '../eval/charts.js';
import { esc, page, table } from '../eval/report-html.js';
import { toCsv } from '../eval/tables.js';
import { gridHeatmap } from '../interpret/figures.js';
import { buildGrid, gridKeys, parseSweepCsv, parseSweepJson, type SweepGrid, type SweepTable } from '../interpret/sweep-grid.js';

export const SWEEP_REPORT_USAGE = `Usage: facesense sweep-report <results.csv|results.json> [--x KEY] [--y KEY] [--metric NAME] --out DIR

Draws one metric of a sweep over two of its grid keys as a heat map (paper 000's depth × width
grid and similar studies). Reads the results.csv that python -m training.sweep writes (columns
cell, the grid keys, val_acc, test_acc, ..., error) or JSON (an array of row objects, or
{"rows": [...]}). Cells that failed are drawn gray and marked; combinations never run, "not run".

Options:
  --x KEY            column across (a full name such as model.kwargs.width, or its last part: width).
                     Default, for a sweep.py table with two grid keys: the second key
  --y KEY            column down. Default: the first grid key
  --metric NAME      value to draw (default val_acc)
  --where KEY=VALUE  keep only rows with this value (repeatable): for grids of more than two keys
  --lower-is-better  the best cell is the lowest (losses, errors, seconds)
  --out DIR          writes sweep-<metric>.svg, grid.csv (rows = y, columns = x) and sweep.html
  -h, --help         this text`;

async function readTable(path: string): Promise<SweepTable> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new FacesenseError(code === 'ENOENT' ? 'INPUT_NOT_FOUND' : 'INPUT_UNREADABLE', `cannot read the results table (${code ?? String(e)})`, { source: path, cause: e });
  }
  return /\.json$/i.test(path) || text.trimStart().startsWith('[') || text.trimStart().startsWith('{') ? parseSweepJson(text, path) : parseSweepCsv(text, path);
}

const fmt = (v: number) => (Math.abs(v) <= 1 ? v.toFixed(4) : Number(v.toPrecision(5)).toString());

/** The grid as text: one row per y value, one column per x value. */
export function gridLines(g: SweepGrid): string[] {
  const head = [`${g.y} \\ ${g.x}`, ...g.xOrder];
  const rows = g.yOrder.map((y) => [y, ...g.xOrder.map((x) => {
    const c = g.cells.find((k) => k.x === x && k.y === y)!;
    return c.value === null ? c.note : fmt(c.value);
  })]);
  const all = [head, ...rows];
  const widths = head.map((_, j) => Math.max(...all.map((r) => r[j]!.length)));
  return all.map((r) => r.map((c, j) => (j === 0 ? c.padEnd(widths[j]!) : c.padStart(widths[j]!))).join('  '));
}

function parseWhere(list: readonly string[]): { column: string; value: string }[] {
  return list.map((w) => {
    const i = w.indexOf('=');
    if (i <= 0) throw new OptionError(`--where must be KEY=VALUE, got ${JSON.stringify(w)}`);
    return { column: w.slice(0, i), value: w.slice(i + 1) };
  });
}

export async function runSweepReport(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      x: { type: 'string' },
      y: { type: 'string' },
      metric: { type: 'string', default: 'val_acc' },
      where: { type: 'string', multiple: true },
      'lower-is-better': { type: 'boolean', default: false },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${SWEEP_REPORT_USAGE}\n`);
    return 0;
  }
  if (positionals.length !== 1) throw new OptionError(`give exactly one results table (got ${positionals.length})`);
  if (values.out === undefined) throw new OptionError('--out is required');
  const where = parseWhere(values.where ?? []);
  const t = await readTable(positionals[0]!);
  const keys = gridKeys(t);
  const x = values.x ?? (keys.length === 2 ? keys[1] : undefined);
  const y = values.y ?? (keys.length === 2 ? keys[0] : undefined);
  if (x === undefined || y === undefined) throw new OptionError(`give --x and --y: the table's grid keys are ${keys.length === 0 ? 'unknown (no sweep.py "cell" column)' : keys.join(', ')}; columns: ${t.columns.join(', ')}`);
  const g = buildGrid(t, { x, y, metric: values.metric, where, lowerIsBetter: values['lower-is-better'] });

  const short = (c: string) => c.split('.').pop()!;
  const bestText = g.best === undefined ? 'no cell has a value' : `best ${short(g.y)}=${g.best.y}, ${short(g.x)}=${g.best.x}: ${fmt(g.best.value!)}`;
  const title = `${g.metric} by ${short(g.y)} × ${short(g.x)} (${bestText})`;
  const known = g.cells.map((c) => c.value).filter((v): v is number => v !== null);
  const unit = known.every((v) => v >= 0 && v <= 1);
  const svg = await renderSvg(gridHeatmap(g.cells, { title, x: g.x, y: g.y, metric: g.metric, xOrder: g.xOrder, yOrder: g.yOrder, format: unit ? '.3f' : '.4~g' }));
  const failed = g.cells.filter((c) => c.error !== undefined);

  process.stdout.write(`${gridLines(g).join('\n')}\n${bestText}\n`);
  const out = values.out;
  await mkdir(out, { recursive: true });
  await writeFile(join(out, `sweep-${g.metric}.svg`), svg.replace('<svg', '<svg xmlns="http://www.w3.org/2000/svg"'));
  await writeFile(join(out, 'grid.csv'), toCsv([`${g.y}\\${g.x}`, ...g.xOrder], g.yOrder.map((y) => [y, ...g.xOrder.map((x) => g.cells.find((c) => c.x === x && c.y === y)!.value)])));
  const body = [
    `<p>${esc(t.source)}: ${esc(g.metric)} over ${esc(g.y)} (rows) × ${esc(g.x)} (columns)${where.length === 0 ? '' : `, where ${esc(where.map((w) => `${w.column}=${w.value}`).join(', '))}`}. ${esc(bestText)}.</p>`,
    `<figure>${svg}</figure>`,
    table([esc(`${g.y} \\ ${g.x}`), ...g.xOrder.map(esc)], g.yOrder.map((y) => [esc(y), ...g.xOrder.map((x) => { const c = g.cells.find((k) => k.x === x && k.y === y)!; return c.value === null ? esc(c.note) : fmt(c.value); })])),
    ...(failed.length === 0 ? [] : [`<h2>Failed cells</h2><ul>${failed.map((c) => `<li>${esc(`${short(g.y)}=${c.y}, ${short(g.x)}=${c.x}: ${c.error}`)}</li>`).join('')}</ul>`]),
  ];
  await writeFile(join(out, 'sweep.html'), page(`Sweep: ${g.metric}`, body.join('\n')));
  return 0;
}
