/**
 * The policy compiler: documents in, a versioned bundle of datapath entries out.
 *
 * compile() is the one-shot form of IncrementalCompiler (incremental.ts), which
 * keeps the compiled state so that later changes cost what they touch. The
 * precedence rules live with the per-pair compilation (pair.ts), the ipcache
 * ownership rules with the ipcache state (ipcache.ts). What it emits is the one
 * generation model (model/generation/: Bundle, its delta and its digest).
 */
import type { Bundle } from '../../../../model/generation/bundle';
import type { Document } from '../policy/schema';
import type { CompileOptions } from './compile-options';
import { IncrementalCompiler } from './incremental';

export type { Bundle, RuleInfo } from '../../../../model/generation/bundle';
export type { CompileOptions } from './compile-options';

export function compile(docs: readonly Document[], opts: CompileOptions): Bundle {
  return new IncrementalCompiler(docs, opts).bundle;
}
