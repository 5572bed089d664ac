import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFile, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { DEFAULT_TASK_MODELS } from '../src/core/analyzer.js';
import { OCCLUSION_MODEL } from '../src/core/quality.js';
import { PACKAGE_SPDX } from '../src/licences.js';
import { missingDependency, OPTIONAL_PACKAGES } from '../src/optional-deps.js';
import { tempDir } from './helpers/media.js';

/** The onnxruntime-web runtime files the browser bundle carries (the build script's own list). */
const { ORT_FILES } = (await import(pathToFileURL(join(process.cwd(), 'scripts', 'build-web.mjs')).href)) as { ORT_FILES: readonly string[] };

const run = promisify(execFile);
const BIN = join(process.cwd(), 'bin', 'facesense.js');

interface PackageJson {
  version: string;
  license: string;
  files: string[];
  dependencies: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
}
const pkg = JSON.parse(await readFile('package.json', 'utf8')) as PackageJson;

/** The CLI with no FACESENSE_* variables and an empty HOME: what a fresh install sees. */
async function bare(args: string[], extraEnv: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = { PATH: process.env.PATH ?? '', HOME: await tempDir('facesense-home-'), FACESENSE_OFFLINE: '1', ...extraEnv };
  try {
    const { stdout, stderr } = await run(process.execPath, [BIN, ...args], { env, maxBuffer: 16 << 20 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

describe('the npm package', () => {
  it('packs the default models, the detector and the licences, and no research-only extra model', async () => {
    const { stdout } = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { maxBuffer: 16 << 20 });
    const [packed] = JSON.parse(stdout) as { size: number; files: { path: string }[] }[];
    assert.ok(packed !== undefined);
    const files = new Set(packed.files.map((f) => f.path));
    // The task models' defaults and the quality model (occlusion, a 0.2 MB network).
    const defaults = [...new Set(Object.values(DEFAULT_TASK_MODELS)), OCCLUSION_MODEL];
    const required = ['LICENSE', 'README.md', 'LICENSES/LicenseRef-facesense-research-weights.txt', 'models/yunet_dynamic.onnx', 'models/LICENSE-yunet.txt', 'models/NOTICE-yunet.txt', 'bin/facesense.js', 'dist/src/index.js', 'dist/src/index.d.ts'];
    for (const id of defaults) required.push(`models/${id}.json`, `models/${id}.onnx`, `models/${id}.md`);
    for (const f of required) assert.ok(files.has(f), `the package lacks ${f}`);
    const repoModels = (await readdir('models')).filter((f) => f.endsWith('.onnx'));
    const extra = repoModels.filter((f) => files.has(`models/${f}`) && !defaults.includes(f.slice(0, -5)) && f !== 'yunet_dynamic.onnx');
    assert.deepEqual(extra, [], 'only the default classifier models and the default detector ship');
    assert.ok(repoModels.length > defaults.length + 1, 'the checkout keeps the research models');
    // The browser entry (facesense/web and the prebuilt facesense/web/bundle) ships with the
    // onnxruntime-web runtime files its worker loads from beside itself; the web app does not ship.
    const web = ['dist/src/web/index.js', 'dist/src/web/index.d.ts', 'dist/src/web/worker.js', 'dist/src/video.js', 'dist/web/index.js', 'dist/web/worker.js', ...ORT_FILES.map((f) => `dist/web/${f}`)];
    for (const f of web) assert.ok(files.has(f), `the package lacks ${f}`);
    assert.deepEqual([...files].filter((f) => /^dist\/web\/(app|draw|sw)\./.test(f)), [], 'the web app is not part of the package');
    // The defaults are two ~10 MB networks and a 0.2 MB detector, plus the WASM runtime (counted
    // at its own gzip size); everything else is code.
    let runtime = 0;
    for (const f of ORT_FILES) runtime += gzipSync(await readFile(join('dist', 'web', f))).length;
    assert.ok(packed.size - runtime < 25e6, `tarball is ${packed.size} bytes, ${runtime} of them the WASM runtime`);
  });

  it('states its licences: an SPDX expression that does not claim MIT for the weights, and the files it names', async () => {
    assert.equal(pkg.license, PACKAGE_SPDX);
    assert.notEqual(pkg.license, 'MIT');
    for (const id of pkg.license.split(' AND ').filter((l) => l.startsWith('LicenseRef-'))) {
      assert.ok((await readFile(join('LICENSES', `${id}.txt`), 'utf8')).includes('research'), `LICENSES/${id}.txt`);
    }
    assert.match(await readFile('LICENSE', 'utf8'), /^MIT License/);
    assert.match(await readFile('models/LICENSE-yunet.txt', 'utf8'), /Apache License\s+Version 2\.0/);
  });

  it('the toolkit-only packages are optional peers, never runtime dependencies, and no module imports them eagerly', async () => {
    for (const name of Object.keys(OPTIONAL_PACKAGES)) {
      assert.equal(pkg.dependencies[name], undefined, `${name} is a runtime dependency`);
      assert.ok(pkg.peerDependencies?.[name] !== undefined && pkg.peerDependenciesMeta?.[name]?.optional === true, `${name} is not an optional peer`);
    }
    const offenders: string[] = [];
    const walk = async (dir: string): Promise<void> => {
      for (const e of await readdir(dir, { withFileTypes: true })) {
        const p = join(dir, e.name);
        if (e.isDirectory()) await walk(p);
        else if (e.name.endsWith('.js')) {
          const text = await readFile(p, 'utf8');
          for (const name of Object.keys(OPTIONAL_PACKAGES)) if (new RegExp(`(from|import)\\s*['"]${name}['"]`).test(text)) offenders.push(`${p}: ${name}`);
        }
      }
    };
    await walk(join('dist', 'src'));
    assert.deepEqual(offenders, []);
    // onnxruntime-web (139 MB installed) serves only the unbundled `facesense/web` entry, which a
    // bundler resolves from the app; the prebuilt bundle carries its runtime in dist/web.
    assert.equal(pkg.dependencies['onnxruntime-web'], undefined, 'onnxruntime-web weighs on Node-only installs');
    assert.equal(pkg.peerDependenciesMeta?.['onnxruntime-web']?.optional, true);
    const e = missingDependency(['vega', 'vega-lite']);
    assert.equal(e.code, 'DEPENDENCY_MISSING');
    assert.match(e.message, /Run: npm install vega vega-lite$/);
  });
});

describe('facesense models and --version', () => {
  it('with no environment at all, finds the default models and the bundled detector, with their licences', async () => {
    const { code, stdout, stderr } = await bare(['models', '--json']);
    assert.equal(code, 0, stderr);
    const out = JSON.parse(stdout) as { terms: string; models: { kind: string; id: string; status: string; licence: string; defaultFor: string[]; path?: string }[] };
    const yunet = out.models.find((m) => m.id === 'yunet');
    assert.equal(yunet?.status, 'ok');
    assert.equal(yunet?.licence, 'Apache-2.0');
    assert.equal(yunet?.path, join(process.cwd(), 'models', 'yunet_dynamic.onnx'));
    for (const id of new Set(Object.values(DEFAULT_TASK_MODELS))) {
      const m = out.models.find((r) => r.id === id);
      assert.equal(m?.status, 'ok', id);
      assert.match(m?.licence ?? '', /research/);
      assert.ok((m?.defaultFor.length ?? 0) > 0);
    }
    assert.match(out.terms, /code is MIT/);
    assert.match(out.terms, /research use only/);
  });

  it('--verify reports a corrupt weights file as CHECKSUM_MISMATCH and exits 1', async () => {
    const dir = await tempDir();
    await copyFile(join('models', 'emotion-ferplus.json'), join(dir, 'emotion-ferplus.json'));
    await writeFile(join(dir, 'emotion-ferplus.onnx'), 'not the network');
    const ok = await bare(['models', '--json', '--models-dir', dir]);
    assert.equal(ok.code, 0, 'without --verify nothing is hashed');
    const { code, stdout } = await bare(['models', '--json', '--verify', '--models-dir', dir]);
    assert.equal(code, 1);
    const row = (JSON.parse(stdout) as { models: { id: string; status: string }[] }).models.find((m) => m.id === 'emotion-ferplus');
    assert.match(row?.status ?? '', /^invalid: CHECKSUM_MISMATCH/);
  });

  it('the table names the terms and how to fetch a missing detector', async () => {
    const { stdout } = await bare(['models']);
    assert.match(stdout, /yunet-640 .*facesense models --fetch yunet-640/);
    assert.match(stdout, /LicenseRef-facesense-research-weights/);
  });

  it('--version works alone and after any command', async () => {
    for (const args of [['--version'], ['analyze', '--version'], ['video', '--version'], ['eval', '--version']]) {
      const { code, stdout } = await bare(args);
      assert.equal(code, 0, args.join(' '));
      assert.equal(stdout, `facesense ${pkg.version}\n`);
    }
  });

  it('--help of the CLI and of analyze state the weights terms', async () => {
    for (const args of [['--help'], ['analyze', '--help']]) {
      const { stdout } = await bare(args);
      assert.match(stdout, /research use only/, args.join(' '));
    }
  });
});
