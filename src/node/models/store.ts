import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FacesenseError, ModelError, OptionError } from '../../core/errors.js';
import type { FileEntry } from '../../core/platform.js';
import { validateManifest } from '../../core/models/manifest.js';
import type { ModelManifest } from '../../core/models/manifest.js';
import { isWeightsId } from '../../core/models/registry.js';

/** One progress report of a download; `totalBytes` is absent when the server sends no usable length. */
export interface DownloadProgress {
  /** Model or weights id being downloaded. */
  readonly id: string;
  readonly url: string;
  readonly loadedBytes: number;
  readonly totalBytes?: number;
}

/**
 * Options of {@link createModelStore}. Defaults that come from the environment are read once, when
 * the store is created.
 */
export interface ModelStoreOptions {
  /**
   * Directory searched first for `<id>.json` + `<id>.onnx` and for weights files. Relative paths
   * are resolved against the current directory when the store is created.
   * @default process.env.FACESENSE_MODELS (no such step when unset or empty)
   */
  readonly modelsDir?: string;
  /**
   * Directory searched last, and where downloads are written.
   * @default process.env.FACESENSE_CACHE, else `$XDG_CACHE_HOME/facesense/models` when
   * XDG_CACHE_HOME is an absolute path, else `~/.cache/facesense/models`
   */
  readonly cacheDir?: string;
  /**
   * Whether a file that is found nowhere may be downloaded from its manifest's or registry entry's
   * `url`. An explicit value wins over the environment.
   * @default true, unless the environment variable FACESENSE_OFFLINE is `1`, `true`, `yes` or `on`
   */
  readonly allowDownload?: boolean;
  /**
   * The fetch implementation used for downloads (a test double, or one with a proxy agent).
   * @default globalThis.fetch
   */
  readonly fetch?: typeof fetch;
  /**
   * Called after every chunk a download receives. An exception thrown here aborts the download.
   * @default undefined (no reports)
   */
  readonly onProgress?: (event: DownloadProgress) => void;
  /**
   * Check every download against the expected sha256 before it is moved into the cache. While
   * true, a download with no known sha256 is refused (MODEL_INVALID) rather than trusted.
   * @default true
   */
  readonly verifyChecksums?: boolean;
  /**
   * Also hash files found on disk (in any searched directory, the cache included) when their
   * sha256 is known from the manifest or registry entry. Each file is hashed once per store while
   * its size and modification time stay the same.
   * @default false
   */
  readonly verifyLocal?: boolean;
  /**
   * The package's own `models/` directory, searched after `modelsDir`. Only worth overriding in
   * tests or unusual bundlings.
   * @default the `models/` directory at the root of the facesense package
   */
  readonly bundledModelsDir?: string;
}

/** A classifier model located on disk: its manifest and the absolute paths of both files. */
export interface ResolvedModel {
  readonly id: string;
  readonly manifest: ModelManifest;
  /** Absolute path of the `.onnx` file. */
  readonly modelPath: string;
  /** Absolute path of the `.json` manifest. */
  readonly manifestPath: string;
}

export type { FileEntry };

export interface ModelStore {
  /**
   * Resolves a classifier model. `idOrPath` is an explicit path when it is absolute, contains a
   * path separator, starts with `.` or ends in `.onnx`/`.json`: a `.onnx` with its `.json` beside
   * it, a `.json` manifest, or a directory holding `<dirname>.json` (or a single `.json`). Anything
   * else is an id, looked up as `<id>.json` in {@link searchPath} order; the model file is taken
   * from beside the manifest, else from the cache, else downloaded from the manifest's `url`.
   */
  resolveModel(idOrPath: string): Promise<ResolvedModel>;
  /**
   * Locates `entry.file` in {@link searchPath} order, else downloads it from `entry.url` into the
   * cache. Returns the absolute path.
   */
  resolveFile(entry: FileEntry): Promise<string>;
  /** The directories searched, in order: `modelsDir` (when set), the package's `models/`, the cache. */
  searchPath(): string[];
}

interface SearchDir {
  readonly dir: string;
  /** Where the directory came from, for messages. */
  readonly origin: string;
}

const SHA256_RE = /^[0-9a-f]{64}$/i;

function envValue(name: string): string | undefined {
  const v = process.env[name];
  return v === undefined || v === '' ? undefined : v;
}

function envFlag(name: string): boolean {
  const v = envValue(name);
  return v !== undefined && ['1', 'true', 'yes', 'on'].includes(v.trim().toLowerCase());
}

function defaultCacheDir(): { dir: string; origin: string } {
  const explicit = envValue('FACESENSE_CACHE');
  if (explicit !== undefined) return { dir: path.resolve(explicit), origin: 'cache, from FACESENSE_CACHE' };
  const xdg = envValue('XDG_CACHE_HOME');
  // The XDG spec says relative values are invalid and must be ignored.
  if (xdg !== undefined && path.isAbsolute(xdg)) {
    return { dir: path.join(xdg, 'facesense', 'models'), origin: 'cache, from XDG_CACHE_HOME' };
  }
  return { dir: path.join(homedir(), '.cache', 'facesense', 'models'), origin: 'cache' };
}

/** The package's `models/`: this file compiles to dist/src/node/models/store.js, four levels below the root. */
function packageModelsDir(): string {
  return path.resolve(fileURLToPath(new URL('../../../../models/', import.meta.url)));
}

async function isFile(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isFile();
  } catch {
    return false;
  }
}

function looksLikePath(s: string): boolean {
  return path.isAbsolute(s) || s.includes('/') || s.includes(path.sep) || s.startsWith('.') || /\.(onnx|json)$/i.test(s);
}

function isPlainFileName(f: string): boolean {
  return f !== '' && f !== '.' && f !== '..' && !f.includes('/') && !f.includes('\\') && !f.includes('\0');
}

function errorText(e: unknown): string {
  if (e instanceof Error) {
    const cause = e.cause instanceof Error ? ` (${e.cause.message})` : '';
    return `${e.message}${cause}`;
  }
  return String(e);
}

async function hashFile(p: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(p)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function loadManifest(manifestPath: string): Promise<ModelManifest> {
  let text: string;
  try {
    text = await readFile(manifestPath, 'utf8');
  } catch (e) {
    throw new ModelError('MODEL_INVALID', `cannot read manifest: ${errorText(e)}`, { source: manifestPath, cause: e });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new ModelError('MODEL_INVALID', `manifest is not valid JSON (${errorText(e)}); fix or replace the file`, {
      source: manifestPath,
      cause: e,
    });
  }
  const manifest = validateManifest(value, manifestPath);
  if (manifest.sha256 !== undefined && !SHA256_RE.test(manifest.sha256)) {
    throw new ModelError('MODEL_INVALID', 'invalid manifest: "sha256" must be 64 hexadecimal digits', { source: manifestPath });
  }
  if (manifest.file !== undefined && (manifest.file === '' || path.isAbsolute(manifest.file))) {
    throw new ModelError('MODEL_INVALID', 'invalid manifest: "file" must be a path relative to the manifest', { source: manifestPath });
  }
  return manifest;
}

/** Creates a model store. It holds its own in-flight download map and checksum cache; nothing is shared between stores. */
export function createModelStore(options: ModelStoreOptions = {}): ModelStore {
  const cwd = process.cwd();
  const envModels = envValue('FACESENSE_MODELS');
  const modelsDir: SearchDir | undefined =
    options.modelsDir !== undefined
      ? { dir: path.resolve(cwd, options.modelsDir), origin: 'modelsDir option' }
      : envModels !== undefined
        ? { dir: path.resolve(cwd, envModels), origin: 'FACESENSE_MODELS' }
        : undefined;
  const bundled: SearchDir = {
    dir: options.bundledModelsDir !== undefined ? path.resolve(cwd, options.bundledModelsDir) : packageModelsDir(),
    origin: 'package models/',
  };
  const cache: SearchDir =
    options.cacheDir !== undefined ? { dir: path.resolve(cwd, options.cacheDir), origin: 'cache, from cacheDir option' } : defaultCacheDir();
  const dirs: readonly SearchDir[] = modelsDir !== undefined ? [modelsDir, bundled, cache] : [bundled, cache];

  const downloadBlocker: string | undefined =
    options.allowDownload === false
      ? 'the allowDownload option is false'
      : options.allowDownload === undefined && envFlag('FACESENSE_OFFLINE')
        ? `FACESENSE_OFFLINE=${envValue('FACESENSE_OFFLINE') ?? ''}`
        : undefined;
  const verifyChecksums = options.verifyChecksums ?? true;
  const verifyLocal = options.verifyLocal ?? false;

  /** Destination path → the download writing it, so concurrent resolves share one transfer. */
  const inFlight = new Map<string, Promise<string>>();
  /** Path → `size:mtime:sha256` of local files already hashed by this store. */
  const verified = new Map<string, string>();

  /**
   * MODEL_NOT_FOUND listing every place searched, then how to fix it: `fix` first, plus allowing
   * downloads when they are disabled and a url is known (`downloadable`).
   */
  function notFound(source: string, what: string, searched: readonly string[], fix: string, downloadable: boolean): ModelError {
    const lines = searched.map((s) => `  - ${s}`).join('\n');
    const allow =
      !downloadable || downloadBlocker === undefined
        ? ''
        : downloadBlocker.startsWith('FACESENSE_OFFLINE')
          ? ', or allow downloads (unset FACESENSE_OFFLINE, or pass allowDownload: true)'
          : ', or allow downloads (allowDownload: true)';
    return new ModelError('MODEL_NOT_FOUND', `${what}. Searched:\n${lines}\nTo fix: ${fix}${allow}.`, { source });
  }

  async function checkLocal(filePath: string, id: string, sha256: string | undefined): Promise<string> {
    if (!verifyLocal || sha256 === undefined) return filePath;
    const expected = sha256.toLowerCase();
    const st = await stat(filePath);
    const key = `${st.size}:${st.mtimeMs}:${expected}`;
    if (verified.get(filePath) === key) return filePath;
    const actual = await hashFile(filePath);
    if (actual !== expected) {
      throw new ModelError(
        'CHECKSUM_MISMATCH',
        `file for "${id}" does not match its checksum: expected sha256 ${expected}, got ${actual}. ` +
          'The file is corrupt or a different version: replace it (delete it to download it again), or correct the sha256.',
        { source: filePath },
      );
    }
    verified.set(filePath, key);
    return filePath;
  }

  async function transfer(id: string, url: string, dest: string, sha256: string | undefined): Promise<string> {
    // A concurrent resolve may have finished this very download between our caller's check and now.
    if (await isFile(dest)) return dest;
    try {
      await mkdir(path.dirname(dest), { recursive: true });
    } catch (e) {
      throw new ModelError(
        'DOWNLOAD_FAILED',
        `cannot create the cache directory (${errorText(e)}); set FACESENSE_CACHE or the cacheDir option to a writable directory`,
        { source: path.dirname(dest), cause: e },
      );
    }
    const fetchImpl = options.fetch ?? globalThis.fetch;
    let response: Response;
    try {
      response = await fetchImpl(url);
    } catch (e) {
      throw new ModelError(
        'DOWNLOAD_FAILED',
        `could not download "${id}": ${errorText(e)}. Check the network connection, or download the file yourself to ${dest}.`,
        { source: url, cause: e },
      );
    }
    if (!response.ok) {
      await response.body?.cancel().catch(() => undefined);
      throw new ModelError(
        'DOWNLOAD_FAILED',
        `HTTP ${response.status}${response.statusText === '' ? '' : ` ${response.statusText}`} while downloading "${id}". ` +
          `Check the url in its manifest or registry entry, or download the file yourself to ${dest}.`,
        { source: url },
      );
    }
    const body = response.body;
    if (body === null) {
      throw new ModelError('DOWNLOAD_FAILED', `empty response while downloading "${id}"; try again, or download the file yourself to ${dest}.`, {
        source: url,
      });
    }
    // With a content encoding, Content-Length counts the compressed bytes, not what we receive.
    const lengthHeader = response.headers.get('content-length');
    const declared = response.headers.get('content-encoding') === null && lengthHeader !== null ? Number(lengthHeader) : Number.NaN;
    const totalBytes = Number.isSafeInteger(declared) && declared >= 0 ? declared : undefined;

    const temp = path.join(path.dirname(dest), `.${path.basename(dest)}.${process.pid}.${randomBytes(6).toString('hex')}.part`);
    const hash = createHash('sha256');
    const reader = body.getReader();
    let handle: FileHandle | undefined;
    try {
      handle = await open(temp, 'wx');
      let loadedBytes = 0;
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        hash.update(value);
        await handle.write(value);
        loadedBytes += value.byteLength;
        options.onProgress?.(totalBytes === undefined ? { id, url, loadedBytes } : { id, url, loadedBytes, totalBytes });
      }
      await handle.sync();
      await handle.close();
      handle = undefined;
      if (totalBytes !== undefined && loadedBytes !== totalBytes) {
        throw new ModelError(
          'DOWNLOAD_FAILED',
          `download of "${id}" ended after ${loadedBytes} of ${totalBytes} bytes; try again, or download the file yourself to ${dest}.`,
          { source: url },
        );
      }
      const actual = hash.digest('hex');
      if (verifyChecksums && sha256 !== undefined && actual !== sha256.toLowerCase()) {
        throw new ModelError(
          'CHECKSUM_MISMATCH',
          `download of "${id}" does not match its checksum: expected sha256 ${sha256.toLowerCase()}, got ${actual} ` +
            `(${loadedBytes} bytes). The file was discarded. The server may be serving a different version: ` +
            'check the url and sha256 in the manifest or registry entry.',
          { source: url },
        );
      }
      await rename(temp, dest);
      return dest;
    } catch (e) {
      await reader.cancel().catch(() => undefined);
      await handle?.close().catch(() => undefined);
      await rm(temp, { force: true }).catch(() => undefined);
      if (e instanceof FacesenseError) throw e;
      throw new ModelError(
        'DOWNLOAD_FAILED',
        `download of "${id}" failed: ${errorText(e)}. Try again, or download the file yourself to ${dest}.`,
        { source: url, cause: e },
      );
    }
  }

  /** Downloads `url` to `dest` in the cache; concurrent calls for the same destination share one transfer. */
  function download(id: string, url: string, dest: string, sha256: string | undefined): Promise<string> {
    const running = inFlight.get(dest);
    if (running !== undefined) return running;
    const job = transfer(id, url, dest, sha256).finally(() => inFlight.delete(dest));
    inFlight.set(dest, job);
    return job;
  }

  /**
   * The last step for a file found nowhere on disk: download it, or explain why not.
   * `searched` lists the places already looked at.
   */
  async function fetchMissing(
    id: string,
    file: string,
    url: string | undefined,
    sha256: string | undefined,
    searched: readonly string[],
    what: string,
    fix: string,
  ): Promise<string> {
    const dest = path.join(cache.dir, path.basename(file));
    if (url === undefined) {
      throw notFound(id, what, [...searched, 'download: no url is known for this file'], fix, false);
    }
    if (downloadBlocker !== undefined) {
      const line = `download from ${url}: not attempted, downloads are disabled (${downloadBlocker})`;
      throw notFound(id, what, [...searched, line], fix, true);
    }
    if (verifyChecksums && sha256 === undefined) {
      throw new ModelError(
        'MODEL_INVALID',
        `refusing to download "${id}" from ${url}: no sha256 is known to verify it against. ` +
          'Add "sha256" to the manifest, or pass verifyChecksums: false to accept unverified files.',
        { source: id },
      );
    }
    return download(id, url, dest, sha256);
  }

  /** The model file named by a manifest: beside it, else in the cache, else downloaded. */
  async function locateModelFile(manifest: ModelManifest, manifestPath: string, searched: readonly string[]): Promise<string> {
    const file = manifest.file ?? `${manifest.id}.onnx`;
    const beside = path.resolve(path.dirname(manifestPath), file);
    if (await isFile(beside)) return checkLocal(beside, manifest.id, manifest.sha256);
    const cached = path.join(cache.dir, path.basename(file));
    if (await isFile(cached)) return checkLocal(cached, manifest.id, manifest.sha256);
    const places = [...searched, `${beside} (beside the manifest ${manifestPath})`];
    if (cached !== beside) places.push(`${cached} (${cache.origin})`);
    return fetchMissing(
      manifest.id,
      file,
      manifest.url,
      manifest.sha256,
      places,
      `the manifest ${manifestPath} was found but its model file ${file} was not`,
      `put ${path.basename(file)} beside the manifest or in ${cache.dir}, or pass the path of a .onnx with its manifest beside it`,
    );
  }

  async function resolveExplicit(given: string): Promise<ResolvedModel> {
    const abs = path.resolve(given);
    let isDir: boolean;
    try {
      isDir = (await stat(abs)).isDirectory();
    } catch {
      throw new ModelError(
        'MODEL_NOT_FOUND',
        'no such file or directory. Pass the path of an existing .onnx (with its .json manifest beside it), of a .json manifest, ' +
          'or of a directory holding both; or pass a model id to search FACESENSE_MODELS, the package models/ and the cache.',
        { source: abs },
      );
    }
    let manifestPath: string;
    let modelPath: string | undefined;
    if (isDir) {
      const named = path.join(abs, `${path.basename(abs)}.json`);
      if (await isFile(named)) {
        manifestPath = named;
      } else {
        const jsons = (await readdir(abs)).filter((f) => f.toLowerCase().endsWith('.json')).sort();
        const only = jsons.length === 1 ? jsons[0] : undefined;
        if (only === undefined) {
          throw new ModelError(
            'MODEL_NOT_FOUND',
            `directory holds no ${path.basename(named)} manifest` +
              (jsons.length > 1 ? ` and ${jsons.length} other .json files (${jsons.join(', ')}); pass the path of the one to use` : '; pass the path of the .onnx or .json instead'),
            { source: abs },
          );
        }
        manifestPath = path.join(abs, only);
      }
    } else if (/\.onnx$/i.test(abs)) {
      manifestPath = abs.replace(/\.onnx$/i, '.json');
      modelPath = abs;
      if (!(await isFile(manifestPath))) {
        throw new ModelError(
          'MODEL_NOT_FOUND',
          `model file has no manifest beside it: expected ${manifestPath}. Write one (docs/models.md describes it) ` +
            'or export the model with training/export.py, which writes both files.',
          { source: abs },
        );
      }
    } else if (/\.json$/i.test(abs)) {
      manifestPath = abs;
    } else {
      throw new ModelError('MODEL_INVALID', 'not a model path: expected a .onnx file, a .json manifest or a directory', { source: abs });
    }
    const manifest = await loadManifest(manifestPath);
    const resolvedModel =
      modelPath !== undefined
        ? await checkLocal(modelPath, manifest.id, manifest.sha256)
        : await locateModelFile(manifest, manifestPath, []);
    return { id: manifest.id, manifest, modelPath: resolvedModel, manifestPath };
  }

  async function resolveId(id: string): Promise<ResolvedModel> {
    const searched: string[] = [];
    const orphans: string[] = [];
    for (const { dir, origin } of dirs) {
      const manifestPath = path.join(dir, `${id}.json`);
      if (await isFile(manifestPath)) {
        const manifest = await loadManifest(manifestPath);
        if (manifest.id !== id) {
          throw new ModelError(
            'MODEL_INVALID',
            `manifest declares id "${manifest.id}" but was found as "${id}"; rename the file to ${manifest.id}.json or fix its "id"`,
            { source: manifestPath },
          );
        }
        const modelPath = await locateModelFile(manifest, manifestPath, searched);
        return { id, manifest, modelPath, manifestPath };
      }
      searched.push(`${manifestPath} (${origin}): no manifest`);
      const onnx = path.join(dir, `${id}.onnx`);
      if (await isFile(onnx)) orphans.push(onnx);
    }
    if (orphans.length > 0) searched.push(`found model files without a manifest beside them: ${orphans.join(', ')}`);
    searched.push('download: no manifest found, so no url is known');
    const what = isWeightsId(id)
      ? `"${id}" is a detector weights id, not a classifier model; resolve it with resolveFile(getWeightsEntry("${id}"))`
      : `model "${id}" not found`;
    const fix = `set FACESENSE_MODELS (or the modelsDir option) to a directory holding ${id}.onnx and ${id}.json, or pass their path instead of the id`;
    throw notFound(id, what, searched, fix, false);
  }

  return {
    async resolveModel(idOrPath: string): Promise<ResolvedModel> {
      if (typeof idOrPath !== 'string' || idOrPath.trim() === '') {
        throw new OptionError(`model must be a non-empty id or path (got ${JSON.stringify(idOrPath)})`);
      }
      return looksLikePath(idOrPath) ? resolveExplicit(idOrPath) : resolveId(idOrPath);
    },

    async resolveFile(entry: FileEntry): Promise<string> {
      if (!isPlainFileName(entry.file)) {
        throw new OptionError(`file of "${entry.id}" must be a plain file name without directories (got ${JSON.stringify(entry.file)})`);
      }
      if (entry.sha256 !== undefined && !SHA256_RE.test(entry.sha256)) {
        throw new OptionError(`sha256 of "${entry.id}" must be 64 hexadecimal digits (got ${JSON.stringify(entry.sha256)})`);
      }
      const searched: string[] = [];
      for (const { dir, origin } of dirs) {
        const candidate = path.join(dir, entry.file);
        if (await isFile(candidate)) return checkLocal(candidate, entry.id, entry.sha256);
        searched.push(`${candidate} (${origin})`);
      }
      return fetchMissing(
        entry.id,
        entry.file,
        entry.url,
        entry.sha256,
        searched,
        `${entry.file} for "${entry.id}" not found`,
        `set FACESENSE_MODELS (or the modelsDir option) to a directory holding ${entry.file}, or put it in ${cache.dir}`,
      );
    },

    searchPath(): string[] {
      return dirs.map((d) => d.dir);
    },
  };
}
