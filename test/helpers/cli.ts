import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { SHARED_MODELS } from './media.js';

const run = promisify(execFile);

/** The CLI entry of this checkout. */
export const BIN = join(process.cwd(), 'bin', 'facesense.js');

/** The environment the CLI runs under in tests: the shared detector weights, nothing downloads. */
export const CLI_ENV = { ...process.env, FACESENSE_MODELS: SHARED_MODELS, FACESENSE_OFFLINE: '1' };

/** Runs `facesense ...args` to completion; a non-zero exit is a result, not a throw. */
export async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [BIN, ...args], { env: CLI_ENV, maxBuffer: 64 << 20 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}
