import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { BIN, CLI_ENV } from './helpers/cli.js';
import { media } from './helpers/media.js';

/**
 * `facesense ... | head -1`: reads the first line of stdout, then closes the pipe while the command
 * still has results to write; resolves with how the command ended.
 */
function firstLineThenClose(args: string[]): Promise<{ code: number | null; signal: NodeJS.Signals | null; first: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: CLI_ENV, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let first = '';
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl >= 0 && first === '') {
        first = out.slice(0, nl);
        child.stdout.destroy();
      }
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, first, stderr }));
  });
}

const quiet = (stderr: string) => !/EPIPE|Error|\n\s+at /.test(stderr);

test('analyze | head -1: exits 0 with no stack, in every format', { timeout: 120_000 }, async () => {
  const inputs = Array.from({ length: 30 }, () => media('multi_face.jpg'));
  for (const format of ['jsonl', 'csv', 'json']) {
    const r = await firstLineThenClose(['analyze', '--format', format, '--threads', '1', ...inputs]);
    assert.notEqual(r.first, '', `${format}: a first line was written`);
    assert.equal(r.signal, null, format);
    assert.equal(r.code, 0, `${format}: exit code (stderr: ${r.stderr})`);
    assert.ok(quiet(r.stderr), `${format}: quiet stderr, got: ${r.stderr}`);
    // It stopped early: the summary line of a full run is not printed.
    assert.doesNotMatch(r.stderr, /analyzed 30\/30/, format);
  }
});

test('video | head -1: exits 0 with no stack and stops analysing', { timeout: 120_000 }, async () => {
  const r = await firstLineThenClose(['video', media('single_face.mp4'), '--format', 'jsonl', '--threads', '1']);
  assert.match(r.first, /^\{/);
  assert.equal(r.signal, null);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(quiet(r.stderr), r.stderr);
});
