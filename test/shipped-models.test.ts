import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { DEFAULT_TASK_MODELS } from '../src/core/analyzer.js';
import { validateManifest } from '../src/core/models/manifest.js';
import { checkFrameModel, validateSequenceManifest } from '../src/node/video/sequence.js';

// Issue 3's rules for committed models: each ≤ 20 MB, each with a model card, and the manifest
// must describe the file that is committed next to it (and a sequence model must fit the shipped
// frame model whose embeddings it reads).
const MODELS = path.resolve('models');
const LIMIT_BYTES = 20 * 1024 * 1024;
const manifests = readdirSync(MODELS).filter((f) => f.endsWith('.json'));

test('models/ ships at least the default models', () => {
  for (const id of ['emotion-ferplus', 'attributes-utkface', ...Object.values(DEFAULT_TASK_MODELS)]) assert.ok(manifests.includes(`${id}.json`), id);
});

for (const file of manifests) {
  test(`shipped model ${file}: valid manifest, matching sha256, ≤ 20 MB, model card`, () => {
    const raw = JSON.parse(readFileSync(path.join(MODELS, file), 'utf8')) as { kind?: string };
    const read = (f: string) => validateManifest(JSON.parse(readFileSync(path.join(MODELS, f), 'utf8')), f);
    let man;
    if (raw.kind === 'sequence') {
      man = validateSequenceManifest(raw, file);
      checkFrameModel(man, read(`${man.input.frameModel.id}.json`), file);
    } else {
      man = read(file);
    }
    assert.equal(`${man.id}.json`, file);
    assert.ok(man.file !== undefined && man.sha256 !== undefined, `${file}: a shipped model names its file and sha256`);
    const onnx = path.join(MODELS, man.file);
    assert.ok(existsSync(onnx), `${man.file} missing`);
    const bytes = statSync(onnx).size;
    assert.ok(bytes <= LIMIT_BYTES, `${man.file}: ${bytes} bytes > 20 MB`);
    assert.equal(createHash('sha256').update(readFileSync(onnx)).digest('hex'), man.sha256, `${man.file}: sha256`);
    const card = path.join(MODELS, `${man.id}.md`);
    assert.ok(existsSync(card), `${man.id}.md (model card) missing`);
    assert.match(readFileSync(card, 'utf8'), /terms/i, `${man.id}.md names the data's terms`);
  });
}
