/** Queue workers as real `facesense worker` processes, and waiting on the queue's state, for the queue tests. */
import { spawn, type ChildProcess } from 'node:child_process';
import { BIN, CLI_ENV } from './cli.js';

export type WorkerProcess = ChildProcess & { log: string[] };

export function startWorker(url: string, extra: readonly string[] = []): WorkerProcess {
  const p = spawn(process.execPath, [BIN, 'worker', '--redis', url, '--lock-ms', '2000', '--threads', '1', ...extra], { env: CLI_ENV, stdio: ['ignore', 'ignore', 'pipe'] }) as WorkerProcess;
  p.log = [];
  p.stderr!.on('data', (d: Buffer) => p.log.push(...d.toString().split('\n').filter(Boolean)));
  return p;
}

export async function until(what: string, check: () => Promise<boolean>, ms = 150_000): Promise<void> {
  const t0 = Date.now();
  while (!(await check())) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export const exited = (p: ChildProcess) => (p.exitCode !== null || p.signalCode !== null ? Promise.resolve() : new Promise((r) => p.once('exit', r)));
