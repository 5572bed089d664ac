import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { alignFace } from '../src/core/align.js';
import { measureFraming } from '../src/data/framing.js';
import { createYunetDetector } from '../src/node/platform.js';
import { DEFAULT_DETECT_OPTIONS } from '../src/core/detect/types.js';
import { loadRgb, media, SHARED_MODELS } from './helpers/media.js';

test('measureFraming recovers the eye placement of crops made with a known framing', async () => {
  const detector = await createYunetDetector({ modelPath: join(SHARED_MODELS, 'yunet_dynamic.onnx'), threads: 1 });
  try {
    const crops = [];
    for (const name of ['single_face.jpg', 'multi_face.jpg']) {
      const img = await loadRgb(media(name));
      for (const det of await detector.detect(img, DEFAULT_DETECT_OPTIONS)) {
        crops.push(alignFace(img, det, { width: 48, height: 48, channels: 1, crop: { mode: 'aligned', eyeDistance: 0.36, eyeY: 0.4 } }).image);
      }
    }
    const f = await measureFraming(crops, detector);
    assert.ok(f !== undefined);
    assert.equal(f.tried, 6);
    assert.ok(f.measured >= 5);
    assert.ok(Math.abs(f.eyeDistance - 0.36) < 0.03, `eyeDistance ${f.eyeDistance}`);
    assert.ok(Math.abs(f.eyeY - 0.4) < 0.03, `eyeY ${f.eyeY}`);
  } finally {
    await detector.dispose();
  }
});
