// Validates manifest JSON files with the analyzer's own validateManifest (src/core/models/manifest.ts),
// so the Python exporter is checked against the TypeScript contract, not a copy of it.
//
//   node training/tests/validate_manifest.mjs MANIFEST.json [...]
//
// The TypeScript sources are transpiled on the fly with the repo's `typescript` (following relative
// imports), so no build is needed; without `typescript`, dist/src/core/models/manifest.js is used.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

async function transpileTree(ts, entry, outDir) {
  const seen = new Set();
  const queue = [entry];
  while (queue.length > 0) {
    const rel = queue.pop();
    if (seen.has(rel)) continue;
    seen.add(rel);
    const src = readFileSync(path.join(root, rel), 'utf8');
    const out = ts.transpileModule(src, {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    });
    const dest = path.join(outDir, rel.replace(/\.ts$/, '.js'));
    mkdirSync(path.dirname(dest), { recursive: true });
    writeFileSync(dest, out.outputText);
    for (const m of src.matchAll(/from\s+'(\.{1,2}\/[^']+)\.js'/g)) {
      queue.push(path.join(path.dirname(rel), `${m[1]}.ts`));
    }
  }
  return path.join(outDir, entry.replace(/\.ts$/, '.js'));
}

async function loadValidator() {
  let ts;
  try {
    ts = (await import('typescript')).default;
  } catch {
    const dist = path.join(root, 'dist/src/core/models/manifest.js');
    if (!existsSync(dist)) throw new Error('neither the typescript package nor dist/ is available: run npm install or npm run build');
    return (await import(pathToFileURL(dist).href)).validateManifest;
  }
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'facesense-manifest-'));
  writeFileSync(path.join(tmp, 'package.json'), '{"type":"module"}');
  const entry = await transpileTree(ts, 'src/core/models/manifest.ts', tmp);
  return (await import(pathToFileURL(entry).href)).validateManifest;
}

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error('usage: node training/tests/validate_manifest.mjs MANIFEST.json [...]');
  process.exit(2);
}
const validateManifest = await loadValidator();
let failed = 0;
for (const f of files) {
  try {
    validateManifest(JSON.parse(readFileSync(f, 'utf8')), f);
    console.log(`ok ${f}`);
  } catch (e) {
    failed += 1;
    console.log(`FAIL ${f}: ${e instanceof Error ? e.message : String(e)}`);
  }
}
process.exit(failed === 0 ? 0 : 1);
