// SPDX-License-Identifier: Apache-2.0
/**
 * abi.ts against bpf/cordon.h, compiled: a C program built against the header
 * prints every value, struct size and field offset abi.ts states, and the
 * test fails on any difference. Also fails when the header gains a code, a
 * flag, a limit or a struct that abi.ts neither mirrors nor lists below as
 * kernel-only, and when control.proto's enums drift from the codes.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as abi from './abi';
import { WIRE_REASONS } from '../../proto/cordon/v1/control';

const ROOT = path.resolve(__dirname, '..', '..');
const HEADER = fs.readFileSync(path.join(ROOT, 'bpf', 'cordon.h'), 'utf8');

/** CORDON_* groups of macros and their TypeScript mirror (longest prefix first: CORDON_ENC_S_ before CORDON_ENC_). */
const MIRRORED: Array<[prefix: string, mirror: Record<string, number>]> = [
  ['CORDON_ENC_S_', abi.ENC_STATE],
  ['CORDON_ENC_FIRST_PLAINTEXT', { '': abi.ENCRYPTION_NAME.indexOf(abi.PLAINTEXT_CLASSES[0]) }],
  ['CORDON_ENC_', Object.fromEntries(abi.ENCRYPTION_NAME.map((n, i) => [n.toUpperCase(), i]))],
  ['CORDON_FLOW_F_', abi.FLOW_FLAG],
  ['CORDON_ID_', abi.IDENTITY],
  ['CORDON_VERDICT_', abi.VERDICT],
  ['CORDON_REASON_MAX', { '': abi.REASON_COUNT }],
  ['CORDON_REASON_', abi.REASON],
  ['CORDON_MAX_', abi.LIMITS],
  ['CORDON_IPC_F_', abi.IPC_FLAG],
  ['CORDON_POL_F_', abi.POLICY_FLAG],
  ['CORDON_STATE_F_', abi.STATE_FLAG],
  ['CORDON_TCP_', abi.TCP_FLAG],
  ['CORDON_PORT_PLEN_ANY_PROTO', { '': abi.PORT_PLEN_ANY_PROTO }],
  ['CORDON_FQDN_SELECTORS', { '': abi.FQDN_SELECTORS }],
];
/** Macros only the kernel program (or the C++ side) uses. */
const KERNEL_ONLY_MACROS = ['CORDON_H', 'CORDON_SLOTS', 'CORDON_PAIR_SLOT', 'CORDON_FLOW_KIND_', 'CORDON_ETH_P_'];
/** Structs user space reads only from C++ (the suppressed-event counter, the pair slots, IPv4 flow keys: widened there) or never. */
const KERNEL_ONLY_STRUCTS = ['cordon_frag_key', 'cordon_frag_value', 'cordon_event_budget', 'cordon_pair_slot', 'cordon_flow_key4'];

const headerMacros = () => [...HEADER.matchAll(/^#define\s+(CORDON_\w+)/gm)].map((m) => m[1]);

/** Struct name -> its field names, pad fields left out. */
function headerStructs(): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const m of HEADER.matchAll(/^struct\s+(cordon_\w+)\s*\{([\s\S]*?)^\};/gm)) {
    const body = m[2].replace(/\/\*[\s\S]*?\*\//g, '');
    const fields = [...body.matchAll(/^\s*\w+\s+(\w+)(?:\[\w+\])*\s*;/gm)].map((f) => f[1]).filter((f) => !f.startsWith('pad'));
    out.set(m[1], fields);
  }
  return out;
}

/** C name -> the value abi.ts gives it, for every macro abi.ts mirrors. */
function mirroredValues(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [prefix, mirror] of MIRRORED) for (const [k, v] of Object.entries(mirror)) out[prefix + k] = v;
  return out;
}

/** Name -> value as abi.ts states it: macros, and `struct.size` / `struct.field` offsets. */
function typescriptSide(): Record<string, number> {
  const out = mirroredValues();
  for (const [struct, layout] of Object.entries(abi.LAYOUT)) for (const [f, v] of Object.entries(layout)) out[`${struct}.${f}`] = v;
  return out;
}

/** The same names as the compiler sees them. */
function compiledSide(names: string[]): Record<string, number> {
  const expr = (n: string) => {
    const [struct, field] = n.split('.');
    if (field === undefined) return `(unsigned long long)(${n})`;
    return field === 'size' ? `(unsigned long long)sizeof(struct ${struct})` : `(unsigned long long)offsetof(struct ${struct}, ${field})`;
  };
  const src = [
    '#include <stddef.h>',
    '#include <stdio.h>',
    '#include "cordon.h"',
    'int main(void) {',
    ...names.map((n) => `  printf("%s %llu\\n", "${n}", ${expr(n)});`),
    '  return 0;',
    '}',
  ].join('\n');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cordon-abi-'));
  try {
    fs.writeFileSync(path.join(dir, 'probe.c'), src);
    execFileSync(process.env.CC ?? 'cc', ['-Wall', '-Werror', '-I', path.join(ROOT, 'bpf'), '-o', path.join(dir, 'probe'), path.join(dir, 'probe.c')], { stdio: ['ignore', 'pipe', 'pipe'] });
    const lines = execFileSync(path.join(dir, 'probe'), { encoding: 'utf8' }).trim().split('\n');
    return Object.fromEntries(lines.map((l) => l.split(' ')).map(([n, v]) => [n, Number(v)]));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test('abi_spec_1_every_code_flag_limit_size_and_offset_of_abi_ts_is_what_the_compiled_header_says', () => {
  const ts = typescriptSide();
  expect(compiledSide(Object.keys(ts))).toEqual(ts);
});

test('abi_spec_2_every_macro_of_the_header_is_mirrored_or_listed_as_kernel_only', () => {
  const mirrored = mirroredValues();
  const kernelOnly = (name: string) => KERNEL_ONLY_MACROS.some((p) => name.startsWith(p));
  expect(headerMacros().filter((n) => !(n in mirrored) && !kernelOnly(n))).toEqual([]);
  // And abi.ts states nothing the header does not define.
  expect(Object.keys(mirrored).filter((n) => !headerMacros().includes(n))).toEqual([]);
});

test('abi_spec_3_every_struct_and_field_of_the_header_is_in_the_layout_or_listed_as_kernel_only', () => {
  const structs = headerStructs();
  expect(structs.size).toBeGreaterThan(10);
  const layout = abi.LAYOUT as Record<string, Record<string, number>>;
  expect([...structs.keys()].filter((s) => !layout[s] && !KERNEL_ONLY_STRUCTS.includes(s))).toEqual([]);
  for (const [s, l] of Object.entries(layout)) {
    expect({ struct: s, fields: Object.keys(l).filter((f) => f !== 'size').sort() }).toEqual({ struct: s, fields: [...(structs.get(s) ?? [])].sort() });
  }
});

test('abi_spec_4_control_proto_enums_and_wire_reasons_carry_the_header_codes', () => {
  const proto = fs.readFileSync(path.join(ROOT, 'proto', 'cordon', 'v1', 'control.proto'), 'utf8');
  const enumOf = (name: string) => {
    const body = new RegExp(`enum ${name} \\{([\\s\\S]*?)\\}`).exec(proto)![1];
    return Object.fromEntries([...body.matchAll(/^\s*(\w+)\s*=\s*(\d+);/gm)].map((m) => [m[1], Number(m[2])]));
  };
  const prefixed = (prefix: string, group: Record<string, number>) => Object.fromEntries(Object.entries(group).map(([k, v]) => [prefix + k, v]));
  expect(enumOf('DropReason')).toEqual(prefixed('DROP_REASON_', abi.REASON));
  expect(enumOf('Verdict')).toEqual(prefixed('VERDICT_', abi.VERDICT));
  expect([...WIRE_REASONS]).toEqual(Object.keys(prefixed('DROP_REASON_', abi.REASON)));
});

test('abi_spec_5_the_names_are_the_codes_lower_cased', () => {
  expect(abi.REASON_NAME[abi.REASON.NO_CONNECTION]).toBe('no_connection');
  expect(abi.VERDICT_NAME[abi.VERDICT.AUDIT]).toBe('audit');
  expect(Object.keys(abi.REASON_NAME)).toHaveLength(abi.REASON_COUNT);
});
