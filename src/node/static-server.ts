/**
 * A small static file server for the web app, its tests and its benchmark: mounts URL prefixes on
 * directories, on 127.0.0.1 only. With `isolate`, pages are cross-origin isolated (COOP/COEP), which
 * is what onnxruntime-web needs for WASM threads.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.wasm': 'application/wasm',
  '.onnx': 'application/octet-stream',
  '.md': 'text/markdown; charset=utf-8',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.png': 'image/png',
  '.mp4': 'video/mp4',
  '.y4m': 'video/x-raw',
};

export interface StaticServerOptions {
  /** URL prefix (e.g. `/models/`) → directories searched in order for the rest of the path. */
  readonly mounts: Readonly<Record<string, string | readonly string[]>>;
  /** Send COOP/COEP so the page is cross-origin isolated. @default true */
  readonly isolate?: boolean;
  /** @default 0 (a free port) */
  readonly port?: number;
}

export interface StaticServer {
  readonly url: string;
  readonly server: Server;
  close(): Promise<void>;
}

/** Headers that make a page cross-origin isolated (COOP/COEP), which onnxruntime-web needs for WASM threads. */
export const ISOLATION_HEADERS: Readonly<Record<string, string>> = {
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-embedder-policy': 'require-corp',
};

/**
 * The file that a decoded URL path (relative to a mount) names in the first of `dirs` holding it;
 * a path ending in `/` names its index.html. Never a file outside the directories: `..` segments
 * (however they were encoded) that climb out of one give undefined.
 */
export async function findStaticFile(dirs: readonly string[], relPath: string): Promise<{ path: string; size: number; type: string } | undefined> {
  if (relPath.includes('\0')) return undefined;
  const rel = relPath === '' || relPath.endsWith('/') ? `${relPath}index.html` : relPath;
  for (const dir of dirs) {
    const file = path.join(dir, rel);
    if (file !== dir && !file.startsWith(dir + path.sep)) return undefined;
    const s = await stat(file).catch(() => undefined);
    if (s !== undefined && s.isFile()) return { path: file, size: s.size, type: TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream' };
  }
  return undefined;
}

export async function startStaticServer(options: StaticServerOptions): Promise<StaticServer> {
  const mounts = Object.entries(options.mounts)
    .map(([prefix, dirs]) => ({ prefix, dirs: (typeof dirs === 'string' ? [dirs] : dirs).map((d) => path.resolve(d)) }))
    .sort((a, b) => b.prefix.length - a.prefix.length);
  const isolate = options.isolate ?? true;
  const server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const pathname = decodeURIComponent(url.pathname);
      const mount = mounts.find((m) => pathname.startsWith(m.prefix));
      if (isolate) {
        for (const [k, v] of Object.entries(ISOLATION_HEADERS)) res.setHeader(k, v);
      }
      res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
      const found = mount === undefined ? undefined : await findStaticFile(mount.dirs, pathname.slice(mount.prefix.length));
      if (found !== undefined) {
        res.writeHead(200, { 'content-type': found.type, 'content-length': found.size, 'cache-control': 'no-cache' });
        if (req.method === 'HEAD') return void res.end();
        createReadStream(found.path).pipe(res);
        return;
      }
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
    })().catch((e: unknown) => {
      if (!res.headersSent) res.writeHead(500).end(String(e));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
