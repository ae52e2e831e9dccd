/** The policy compiler: documents → bundle of datapath entries (at once, or incrementally with deltas), and trace over a bundle. */
export { compile, bundleHash } from './compile';
export type { Bundle, RuleInfo, CompileOptions } from './compile';
export { IncrementalCompiler } from './incremental';
export type { CompileChange, CompileStep, DocumentRef } from './incremental';
export { assignIdentities, BUILTIN_IDENTITIES } from './identities';
export { diffBundles, applyDelta, DeltaMismatchError } from './delta';
export type { BundleDelta, PolicyKeyRef } from './delta';
export { trace, runPolicyTests, BundleIndex } from './trace';
export type { TraceQuery, TraceResult, TraceEndpoint, PolicyTestFailure, Verdict } from './trace';
export { rangeToBlocks, portBlocks, icmpTypeBlocks } from './ports';
export { benchCompile } from './bench-compile';
