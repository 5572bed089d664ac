/**
 * The anchor of issue 13: @vladmandic/human's browser pipeline on the same fake webcam, in the same
 * headless Chromium, on its WASM backend (TF.js), measured beside facesense/web by bench/browser.ts.
 * human is not a dependency: it runs only when HUMAN_DIR names an installed @vladmandic/human
 * package (e.g. `cd /work/vendor && npm install --no-save @vladmandic/human @tensorflow/tfjs-backend-wasm`,
 * HUMAN_DIR=/work/vendor/node_modules/@vladmandic/human); its models are its own (HUMAN_DIR/models)
 * and TF.js's WASM binaries come from HUMAN_WASM_DIR (default: @tensorflow/tfjs-backend-wasm/dist
 * beside it). Nothing of human is copied into this repository; the page imports its published bundle.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

export interface HumanSetup {
  /** Static-server mounts serving human's bundle, models and TF.js WASM files. */
  readonly mounts: Record<string, string>;
  readonly version: string;
}

/** Where human is, or why it is skipped (a line for the bench table). */
export async function findHuman(env: NodeJS.ProcessEnv = process.env): Promise<HumanSetup | { skipped: string }> {
  const dir = env.HUMAN_DIR;
  if (dir === undefined || dir === '') return { skipped: 'skipped: set HUMAN_DIR to an installed @vladmandic/human package (not a dependency) to measure it as the anchor' };
  const root = resolve(dir);
  const wasm = resolve(env.HUMAN_WASM_DIR ?? join(root, '..', '..', '@tensorflow', 'tfjs-backend-wasm', 'dist'));
  for (const need of [join(root, 'dist', 'human.esm.js'), join(root, 'models', 'blazeface.json'), join(wasm, 'tfjs-backend-wasm-simd.wasm')]) {
    if (!existsSync(need)) return { skipped: `skipped: ${need} not found (HUMAN_DIR=${dir}${env.HUMAN_WASM_DIR === undefined ? '' : `, HUMAN_WASM_DIR=${env.HUMAN_WASM_DIR}`})` };
  }
  const { readFile } = await import('node:fs/promises');
  const version = (JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { version: string }).version;
  return { mounts: { '/human/': join(root, 'dist'), '/human-models/': join(root, 'models'), '/human-wasm/': wasm }, version };
}

/** human's configurations measured: face detection + emotion on every frame (its caches off), and its defaults. */
export const HUMAN_CONFIGS = {
  'face detection + emotion, every frame': {
    cacheSensitivity: 0,
    skipAllowed: false,
    gesture: { enabled: false },
    body: { enabled: false },
    hand: { enabled: false },
    object: { enabled: false },
    segmentation: { enabled: false },
    face: {
      enabled: true,
      detector: { rotation: false, skipFrames: 0, skipTime: 0 },
      mesh: { enabled: false },
      iris: { enabled: false },
      attention: { enabled: false },
      description: { enabled: false },
      antispoof: { enabled: false },
      liveness: { enabled: false },
      emotion: { enabled: true, skipFrames: 0, skipTime: 0 },
    },
  },
  'default config (face mesh, iris, emotion, description, body, hand, gestures; its frame caches on)': {},
} as const;

/**
 * Page setup (runs in the bench page): one Human per configuration on the WASM backend, loaded and
 * warmed up, and a runner that analyses `frames` webcam frames with one of them.
 */
export const HUMAN_PAGE_SETUP = `async ({ configs }) => {
  const H = await import('/human/human.esm.js');
  const video = window.__benchVideo;
  const humans = [];
  for (const extra of configs) {
    const human = new H.Human({ ...extra, backend: 'wasm', wasmPath: '/human-wasm/', modelBasePath: '/human-models/', debug: false, warmup: 'none' });
    await human.load();
    await human.detect(video);
    humans.push(human);
  }
  window.__human = {
    humans,
    async run(index, frames) {
      const human = humans[index];
      let faces = 0, emotions = 0;
      const t0 = performance.now();
      for (let i = 0; i < frames; i++) {
        // A failure inside human can leave detect() pending forever: give each frame a minute.
        const r = await Promise.race([human.detect(video), new Promise((_, reject) => setTimeout(() => reject(new Error('human.detect did not finish within 60 s')), 60000))]);
        faces += r.face.length;
        emotions += r.face.filter((f) => (f.emotion ?? []).length > 0).length;
      }
      return { ms: performance.now() - t0, n: frames, faces, emotions, backend: human.tf.getBackend(), threads: human.env.wasm.multithread ?? null, simd: human.env.wasm.simd ?? null };
    },
  };
  return H.Human.version ?? humans[0].version;
}`;
