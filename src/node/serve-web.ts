/**
 * `npm run web`: serves the built web app (dist/web-app, from `node scripts/build-web.mjs --app`)
 * on http://127.0.0.1:PORT, cross-origin isolated so WASM threads are available.
 */
import path from 'node:path';
import { startStaticServer } from './static-server.js';

const dir = path.resolve(process.argv[2] ?? 'dist/web-app');
const port = Number(process.env.PORT ?? 8080);
const server = await startStaticServer({ mounts: { '/': dir }, port });
console.log(`facesense web app: ${server.url}/  (serving ${dir}; Ctrl-C to stop)`);
process.once('SIGINT', () => void server.close().then(() => process.exit(0)));
