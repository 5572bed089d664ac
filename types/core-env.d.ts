/**
 * The only globals src/core may use: ones every platform it runs on (Node, browsers, Web Workers)
 * provides. tsconfig.core.json compiles the core with these and nothing else, so a Node or DOM API
 * used there is a compile error.
 */
declare const performance: { now(): number };
/** AbortSignal (Node ≥ 15, browsers, workers): per-call cancellation (AnalyzeOptions.signal). */
interface AbortSignal {
  readonly aborted: boolean;
  readonly reason: unknown;
}
declare const AbortSignal: { readonly prototype: AbortSignal; new (): AbortSignal };
