/**
 * The toolkit's heavy dependencies (vega and vega-lite for report figures, umap-js for embedding
 * maps) are optional peer dependencies: a user who only analyses images does not install them,
 * and the commands that need them say how to get them.
 */
import { createRequire } from 'node:module';
import { FacesenseError } from './core/errors.js';

/** The optional packages, each with what needs it; the install command names them all. */
export const OPTIONAL_PACKAGES = Object.freeze({
  vega: 'report figures (eval, compare, embed, filters, sweep-report)',
  'vega-lite': 'report figures (eval, compare, embed, filters, sweep-report)',
  'umap-js': 'UMAP maps (embed --maps umap)',
} as const);

export type OptionalPackage = keyof typeof OPTIONAL_PACKAGES;

function isMissing(e: unknown, name: string): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && e instanceof Error && e.message.includes(`'${name}'`);
}

/** The error for missing optional packages: one line with the command that installs them. */
export function missingDependency(names: readonly OptionalPackage[]): FacesenseError {
  const uses = [...new Set(names.map((n) => OPTIONAL_PACKAGES[n]))].join('; ');
  return new FacesenseError(
    'DEPENDENCY_MISSING',
    `${uses} need the optional package${names.length > 1 ? 's' : ''} ${names.join(', ')}, which ${names.length > 1 ? 'are' : 'is'} not installed. ` +
      `Run: npm install ${names.join(' ')}`,
  );
}

/** Imports an optional ESM package; DEPENDENCY_MISSING naming `group` (the packages installed together) when absent. */
export async function importOptional<T>(name: OptionalPackage, group: readonly OptionalPackage[] = [name]): Promise<T> {
  try {
    return (await import(name)) as T;
  } catch (e) {
    if (isMissing(e, name)) throw missingDependency(group);
    throw e;
  }
}

const require = createRequire(import.meta.url);

/** Loads an optional CommonJS package synchronously; DEPENDENCY_MISSING when absent. */
export function requireOptional<T>(name: OptionalPackage): T {
  try {
    return require(name) as T;
  } catch (e) {
    if (isMissing(e, name)) throw missingDependency([name]);
    throw e;
  }
}
