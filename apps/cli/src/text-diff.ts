// SPDX-License-Identifier: Apache-2.0
/** A unified diff of two texts by lines (`cordon diff`): longest common subsequence, hunks with context. */

type Op = { kind: ' ' | '-' | '+'; line: string; a: number; b: number };

/** The edit script from a to b. Documents are small (a few hundred lines): the O(n·m) table is fine. */
function editScript(a: string[], b: string[]): Op[] {
  const n = a.length;
  const m = b.length;
  const lcs: Uint32Array[] = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--) lcs[i][j] = a[i] === b[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
  const ops: Op[] = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) ops.push({ kind: ' ', line: a[i], a: i++, b: j++ });
    // Removals before additions, as diff -u prints a changed line.
    else if (i < n && (j === m || lcs[i + 1][j] >= lcs[i][j + 1])) ops.push({ kind: '-', line: a[i], a: i++, b: j });
    else ops.push({ kind: '+', line: b[j], a: i, b: j++ });
  }
  return ops;
}

const lines = (t: string) => (t === '' ? [] : t.replace(/\n$/, '').split('\n'));

/** `--- from` / `+++ to` and @@ hunks; '' when the texts are equal. `paint` colours a line by its sign. */
export function unifiedDiff(from: string, to: string, fromName: string, toName: string, context = 3, paint: (sign: string, line: string) => string = (_s, l) => l): string {
  const ops = editScript(lines(from), lines(to));
  if (ops.every((o) => o.kind === ' ')) return '';
  const out = [paint('-', `--- ${fromName}`), paint('+', `+++ ${toName}`)];
  let k = 0;
  while (k < ops.length) {
    if (ops[k].kind === ' ') {
      k++;
      continue;
    }
    // A hunk: from `context` lines before this change to `context` lines after the last change within reach.
    const start = Math.max(0, k - context);
    let end = k;
    let last = k;
    while (end < ops.length && (ops[end].kind !== ' ' || end - last <= context * 2)) {
      if (ops[end].kind !== ' ') last = end;
      end++;
    }
    end = Math.min(ops.length, last + context + 1);
    const hunk = ops.slice(start, end);
    const aLen = hunk.filter((o) => o.kind !== '+').length;
    const bLen = hunk.filter((o) => o.kind !== '-').length;
    const aStart = aLen ? hunk.find((o) => o.kind !== '+')!.a + 1 : hunk[0].a;
    const bStart = bLen ? hunk.find((o) => o.kind !== '-')!.b + 1 : hunk[0].b;
    out.push(paint('@', `@@ -${aStart},${aLen} +${bStart},${bLen} @@`));
    for (const o of hunk) out.push(paint(o.kind, `${o.kind}${o.line}`));
    k = end;
  }
  return out.join('\n') + '\n';
}
