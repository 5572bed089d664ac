/**
 * Real Redis and PostgreSQL servers for tests and benchmarks, started from the Debian packages
 * on loopback ports in temporary directories. A server that cannot start throws: the tests that
 * need it fail, they never skip.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { chown, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const exec = promisify(execFile);

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function waitFor(check: () => Promise<boolean>, what: string, ms = 20_000): Promise<void> {
  const t0 = Date.now();
  while (Date.now() - t0 < ms) {
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} did not come up within ${ms} ms`);
}

export interface RedisServer {
  readonly url: string;
  readonly port: number;
  readonly dir: string;
  /** Starts the server (again, on the same port and data directory). */
  start(): Promise<void>;
  /** Stops it: `kill` is SIGKILL (no final save), otherwise SIGTERM. */
  stop(kill?: boolean): Promise<void>;
  dispose(): Promise<void>;
}

/** redis-server on 127.0.0.1, append-only file fsync'd on every write so a restart loses nothing. */
export async function createRedis(options: { port?: number } = {}): Promise<RedisServer> {
  const bin = '/usr/bin/redis-server';
  if (!existsSync(bin)) throw new Error(`${bin} is missing: install the redis-server package`);
  const port = options.port ?? (await freePort());
  const dir = await mkdtemp(join(tmpdir(), 'facesense-redis-'));
  let proc: ChildProcess | undefined;
  const ping = async () => (await exec('/usr/bin/redis-cli', ['-p', String(port), 'ping'])).stdout.trim() === 'PONG';
  const server: RedisServer = {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    async start() {
      proc = spawn(bin, ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'yes', '--appendfsync', 'always', '--maxmemory-policy', 'noeviction'], { stdio: 'ignore' });
      const p = proc;
      await waitFor(async () => {
        if (p.exitCode !== null) throw new Error(`redis-server exited with ${p.exitCode}`);
        return ping();
      }, `redis-server on port ${port}`);
    },
    async stop(kill = false) {
      const p = proc;
      proc = undefined;
      if (p === undefined || p.exitCode !== null) return;
      const exited = new Promise((r) => p.once('exit', r));
      p.kill(kill ? 'SIGKILL' : 'SIGTERM');
      await exited;
    },
    async dispose() {
      await server.stop(true);
      await rm(dir, { recursive: true, force: true });
    },
  };
  await server.start();
  return server;
}

export interface PostgresServer {
  readonly url: string;
  dispose(): Promise<void>;
}

/** A fresh PostgreSQL cluster (initdb, trust auth on loopback) run as the `postgres` user when we are root. */
export async function createPostgres(): Promise<PostgresServer> {
  const versions = existsSync('/usr/lib/postgresql') ? readdirSync('/usr/lib/postgresql').sort() : [];
  if (versions.length === 0) throw new Error('PostgreSQL is missing: install the postgresql package (/usr/lib/postgresql/*/bin)');
  const bin = join('/usr/lib/postgresql', versions[versions.length - 1]!, 'bin');
  const base = await mkdtemp(join(tmpdir(), 'facesense-pg-'));
  const asRoot = process.getuid?.() === 0;
  const run = async (cmd: string, args: string[]) => (asRoot ? exec('runuser', ['-u', 'postgres', '--', join(bin, cmd), ...args]) : exec(join(bin, cmd), args));
  if (asRoot) {
    const { stdout } = await exec('id', ['-u', 'postgres']);
    const { stdout: g } = await exec('id', ['-g', 'postgres']);
    await chown(base, Number(stdout.trim()), Number(g.trim()));
  }
  const data = join(base, 'data');
  const port = await freePort();
  await run('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8']);
  await run('pg_ctl', ['-D', data, '-l', join(base, 'log'), '-w', '-t', '30', 'start', '-o', `-p ${port} -k ${base} -h 127.0.0.1 -c fsync=off -c max_connections=50`]);
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    async dispose() {
      await run('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']).catch(() => undefined);
      await rm(base, { recursive: true, force: true });
    },
  };
}
