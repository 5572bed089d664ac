/**
 * Batch inputs: files, directories (walked for images) and list files (`*.txt`: one path per line,
 * blank lines and `#` comments ignored), each expanded like `facesense analyze` does. Paths are
 * kept as given, so a path is the key of its result record; a path listed twice is analysed once.
 */
import { ImageDecodeError, isFacesenseError } from '../core/errors.js';
import { expandInputs, type InputEntry } from '../cli/inputs.js';
import { readRegularFile } from '../io/safe-read.js';

/** Largest list file read: 64 MiB is about a million paths; a larger one is refused, not read into memory. */
const MAX_LIST_BYTES = 64 * 1024 * 1024;

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
        // Bounded regular-file read: a device, FIFO or huge file named as a list is an error record.
        text = new TextDecoder().decode(await readRegularFile(arg, { maxBytes: MAX_LIST_BYTES }));
      } catch (cause) {
        yield { path: arg, error: isFacesenseError(cause) ? cause : new ImageDecodeError('INPUT_UNREADABLE', `cannot read the list file (${String(cause)})`, { source: arg, cause }) };
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
