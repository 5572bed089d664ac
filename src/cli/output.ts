/**
 * The CLI's result stream: stdout, or the file of `--out`. A reader that stops early
 * (`facesense analyze ... | head -1`) closes the pipe; the next write fails with EPIPE. That is not
 * an error of the run: the output marks itself closed, later writes are dropped, and the command
 * stops its work and exits 0 quietly (as a C tool killed by SIGPIPE would stop, minus the signal).
 * Any other write error (a full disk under `--out`) rejects the next write.
 */
import { createWriteStream } from 'node:fs';

export interface CliOutput {
  /** Resolves once `s` is accepted (after `drain` under back-pressure); a no-op once closed. */
  readonly write: (s: string) => Promise<void>;
  /** True once the reader of stdout has gone: stop producing. */
  readonly closed: boolean;
  /** Flushes and closes a `--out` file; nothing for stdout. */
  readonly end: () => Promise<void>;
}

/** True for the error a write to a pipe whose reader has gone raises. */
export function isBrokenPipe(e: unknown): boolean {
  return typeof e === 'object' && e !== null && (e as NodeJS.ErrnoException).code === 'EPIPE';
}

export function openOutput(path?: string): CliOutput {
  const out: NodeJS.WritableStream = path === undefined ? process.stdout : createWriteStream(path);
  let closed = false;
  let failure: Error | undefined;
  out.on('error', (e: Error) => {
    if (path === undefined && isBrokenPipe(e)) closed = true;
    else failure ??= e;
  });
  return {
    get closed() {
      return closed;
    },
    write: async (s) => {
      if (failure !== undefined) throw failure;
      if (closed || out.write(s)) return;
      await new Promise<void>((resolve) => {
        const done = () => {
          out.off('drain', done).off('error', done);
          resolve();
        };
        out.on('drain', done).on('error', done);
      });
      if (failure !== undefined) throw failure;
    },
    end: async () => {
      if (path === undefined) return;
      if (failure !== undefined) throw failure;
      await new Promise<void>((resolve) => out.end(resolve));
    },
  };
}
