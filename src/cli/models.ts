import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_TASK_MODELS } from '../core/analyzer.js';
import { FacesenseError, OptionError } from '../core/errors.js';
import { TERMS } from '../licences.js';
import { validateManifest } from '../core/models/manifest.js';
import { OCCLUSION_MODEL } from '../core/quality.js';
import { getWeightsEntry, isWeightsId, WEIGHTS_REGISTRY } from '../core/models/registry.js';
import { createModelStore, type ModelStore, type ModelStoreOptions } from '../node/models/store.js';

export const MODELS_USAGE = `Usage: facesense models [--verify] [--fetch ID]... [--json] [--models-dir DIR]

Lists every model and detector weights file facesense can use: where it was found (the search
path is --models-dir or $FACESENSE_MODELS, the package's models/, then the cache), its licence,
its size, and whether it is a default.

Options:
  --verify            hash every file found and check it against its recorded sha256
  --fetch ID          download ID into the cache, from the url of its manifest or registry entry
                      (repeatable; only entries with a public url; ignores FACESENSE_OFFLINE)
  --json              one JSON object instead of the table
  --models-dir DIR    where models are looked up first (default: $FACESENSE_MODELS)
  -h, --help          this text

Exit code: 0 when every file found (and, with --verify, every checksum) is good, 1 otherwise.

${TERMS}`;

/** One row of the listing. */
export interface ModelRow {
  readonly kind: 'classifier' | 'detector';
  readonly id: string;
  /** Tasks a classifier answers (empty for detectors). */
  readonly tasks: readonly string[];
  /** Tasks this model answers by default. */
  readonly defaultFor: readonly string[];
  readonly licence: string;
  /** Absolute path of the weights file, or undefined when it is found nowhere. */
  readonly path?: string;
  readonly bytes?: number;
  readonly url?: string;
  /** `ok`, `missing`, or `invalid: <reason>` (a checksum mismatch with --verify, an unreadable manifest). */
  readonly status: string;
}

/** Classifier manifests (`<id>.json` that validate) in the directories of the search path, first one of each id wins. */
async function manifestIds(store: ModelStore): Promise<string[]> {
  const ids = new Set<string>();
  for (const dir of store.searchPath()) {
    let names: string[];
    try {
      names = await readdir(dir);
    } catch {
      continue; // a search directory that does not exist (yet) holds nothing
    }
    for (const name of names.filter((n) => n.endsWith('.json')).sort()) {
      try {
        validateManifest(JSON.parse(await readFile(path.join(dir, name), 'utf8')), name);
        ids.add(name.slice(0, -'.json'.length));
      } catch {
        // not a manifest (or a broken one, which resolving it below would report as such when listed by id)
      }
    }
  }
  for (const id of Object.values(DEFAULT_TASK_MODELS)) ids.add(id);
  return [...ids];
}

function reason(e: unknown): string {
  if (e instanceof FacesenseError) return e.code === 'MODEL_NOT_FOUND' ? 'missing' : `invalid: ${e.code} ${e.message.split('\n')[0]}`;
  throw e;
}

async function size(p: string): Promise<number> {
  return (await stat(p)).size;
}

/** Lists (and with `verify`, hashes) every classifier model and detector weights file the store can find. */
export async function listModels(storeOptions: ModelStoreOptions, verify: boolean): Promise<ModelRow[]> {
  const store = createModelStore({ ...storeOptions, allowDownload: false, verifyLocal: verify });
  // The occlusion model answers no task: it is the default of the quality flags.
  const defaults = (id: string) => [...Object.entries(DEFAULT_TASK_MODELS).filter(([, m]) => m === id).map(([t]) => t), ...(id === OCCLUSION_MODEL ? ['quality'] : [])];
  const rows: ModelRow[] = [];
  for (const id of await manifestIds(store)) {
    try {
      const r = await store.resolveModel(id);
      const m = r.manifest;
      rows.push({ kind: 'classifier', id, tasks: m.outputs.map((o) => o.task), defaultFor: defaults(id), licence: m.licence ?? 'not stated', path: r.modelPath, bytes: await size(r.modelPath), ...(m.url === undefined ? {} : { url: m.url }), status: 'ok' });
    } catch (e) {
      rows.push({ kind: 'classifier', id, tasks: [], defaultFor: defaults(id), licence: 'unknown', status: reason(e) });
    }
  }
  for (const entry of Object.values(WEIGHTS_REGISTRY)) {
    const base = { kind: 'detector' as const, id: entry.id, tasks: [], defaultFor: entry.id === 'yunet' ? ['detect'] : [], licence: entry.licence, ...(entry.url === undefined ? {} : { url: entry.url }) };
    try {
      const p = await store.resolveFile(entry);
      rows.push({ ...base, path: p, bytes: await size(p), status: 'ok' });
    } catch (e) {
      rows.push({ ...base, status: reason(e) });
    }
  }
  return rows;
}

function table(rows: readonly ModelRow[]): string {
  const cells = rows.map((r) => [
    r.kind,
    r.id,
    r.defaultFor.length > 0 ? r.defaultFor.join(',') : '-',
    r.bytes === undefined ? '-' : `${(r.bytes / 1e6).toFixed(1)} MB`,
    r.status,
    /research/i.test(r.licence) ? 'research only' : r.licence,
    r.path ?? (r.url === undefined ? 'not installed (no public download)' : `not installed; facesense models --fetch ${r.id}`),
  ]);
  const head = ['kind', 'id', 'default for', 'size', 'status', 'licence', 'file'];
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => (i < 6 ? c[i]!.length : 0))));
  const line = (c: readonly string[]) => c.map((v, i) => (i < 6 ? v.padEnd(widths[i]!) : v)).join('  ');
  return [line(head), ...cells.map(line)].join('\n');
}

export async function runModels(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      verify: { type: 'boolean', default: false },
      fetch: { type: 'string', multiple: true },
      json: { type: 'boolean', default: false },
      'models-dir': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${MODELS_USAGE}\n`);
    return 0;
  }
  const storeOptions: ModelStoreOptions = values['models-dir'] === undefined ? {} : { modelsDir: values['models-dir'] };
  for (const id of values.fetch ?? []) {
    // An explicit --fetch is the user's consent to download, whatever FACESENSE_OFFLINE says.
    const store = createModelStore({ ...storeOptions, allowDownload: true, verifyLocal: true });
    const got = isWeightsId(id) ? await store.resolveFile(getWeightsEntry(id)) : id.trim() === '' ? undefined : (await store.resolveModel(id)).modelPath;
    if (got === undefined) throw new OptionError('--fetch needs a model or weights id');
    process.stderr.write(`${id}: ${got}\n`);
  }
  const rows = await listModels(storeOptions, values.verify);
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ terms: TERMS.replace(/\n/g, ' '), searchPath: createModelStore(storeOptions).searchPath(), models: rows }, null, 2)}\n`);
  } else {
    process.stdout.write(`${table(rows)}\n\nSearch path: ${createModelStore(storeOptions).searchPath().join(', ')}\n\n${TERMS}\n`);
  }
  // A missing non-default model is normal (research models stay in the source repository); a missing default or a bad file is not.
  const bad = rows.filter((r) => (r.status === 'missing' ? r.defaultFor.length > 0 : r.status !== 'ok'));
  return bad.length > 0 ? 1 : 0;
}
