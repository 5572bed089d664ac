/**
 * Batch inputs: files, directories (walked for images) and list files (`*.txt`: one path per line,
 * blank lines and `#` comments ignored), each expanded like `facesense analyze` does. Paths are
 * kept as given, so a path is the key of its result record; a path listed twice is analysed once.
 */
import { readFile } from 'node:fs/promises';
import { ImageDecodeError } from '../errors.js';
import { expandInputs, type InputEntry } from '../cli/inputs.js';

export function isListFile(arg: string): boolean {
  return /\.(txt|lst|list)$/i.test(arg);
}

export async function* batchInputs(args: readonly string[]): AsyncGenerator<InputEntry> {
  const seen = new Set<string>();
  for (const arg of args) {
    let expanded: AsyncGenerator<InputEntry>;
    if (isListFile(arg)) {
      let text: string;
      try {
        text = await readFile(arg, 'utf8');
      } catch (cause) {
        yield { path: arg, error: new ImageDecodeError('INPUT_NOT_FOUND', `cannot read the list file (${(cause as NodeJS.ErrnoException).code})`, { source: arg, cause }) };
        continue;
      }
      const lines = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
      expanded = expandInputs(lines);
    } else expanded = expandInputs([arg]);
    for await (const e of expanded) {
      if (seen.has(e.path)) continue;
      seen.add(e.path);
      yield e;
    }
  }
}
