// SPDX-License-Identifier: Apache-2.0
/** The output formats every read takes (-o), and their parser. */
import { CliError } from '../cli-error';

export const FORMATS = ['table', 'wide', 'json', 'yaml', 'name'] as const;
export type OutputFormat = (typeof FORMATS)[number];

export function parseFormat(f: string | undefined, allowed: readonly string[] = FORMATS): OutputFormat {
  const v = (f ?? 'table') as OutputFormat;
  if (!allowed.includes(v)) throw new CliError(`--output must be ${allowed.slice(0, -1).join(', ')} or ${allowed[allowed.length - 1]}, got "${f}"`, 2);
  return v;
}

