/** Parsers for command-line option values shared by the subcommands; each throws an OptionError naming the option. */
import { OptionError } from '../errors.js';

/** A whole number ≥ 1, or `fallback` when the option is absent. */
export function positiveInt(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || Number.parseInt(value, 10) < 1) throw new OptionError(`--${name} must be a positive integer, got ${JSON.stringify(value)}`);
  return Number.parseInt(value, 10);
}
