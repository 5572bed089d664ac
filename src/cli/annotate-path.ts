import { basename, dirname, extname, join, relative, resolve, sep } from 'node:path';

/**
 * Where `analyze --annotate DIR` writes the annotated copy of `source`: the input's folder tree
 * relative to the current directory is mirrored under DIR (leading `..` segments dropped), so
 * `a/x.jpg` and `b/x.jpg` become `DIR/a/x.annotated.jpg` and `DIR/b/x.annotated.jpg` instead of
 * overwriting each other. PNG and WebP keep their format; everything else becomes JPEG.
 */
export function annotatedPath(outDir: string, source: string, cwd: string = process.cwd()): string {
  const rel = relative(cwd, resolve(cwd, source));
  const parts = dirname(rel).split(sep).filter((p) => p !== '' && p !== '.' && p !== '..');
  const ext = extname(source).toLowerCase();
  const name = `${basename(source, extname(source))}.annotated${['.png', '.webp'].includes(ext) ? ext : '.jpg'}`;
  return join(outDir, ...parts, name);
}
