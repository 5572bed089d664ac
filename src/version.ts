import { readFileSync } from 'node:fs';

/** The package's version, from its package.json (this file compiles to dist/src/version.js, two levels below the root). */
export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
  return typeof pkg.version === 'string' ? pkg.version : 'unknown';
}
