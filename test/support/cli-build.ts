// SPDX-License-Identifier: Apache-2.0
/**
 * Tests that run the real `cordon` executable (bin/cordon.js runs dist/) make
 * sure dist/ is built from the sources as they are: `tsc -p tsconfig.build.json`
 * when a source file is newer than the built CLI, else nothing (a full build
 * is ~15 s; `npm run setup`, which CI runs first, has just made one).
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');
const BUILT = path.join(ROOT, 'dist', 'apps', 'cli', 'src', 'main.js');
const SOURCES = ['apps', 'model', 'proto', 'native/lib', 'tsconfig.build.json', 'tsconfig.json'];

function newestMtime(p: string): number {
  const st = fs.statSync(p, { throwIfNoEntry: false });
  if (!st) return 0;
  if (!st.isDirectory()) return /\.(ts|json|proto)$/.test(p) && !p.endsWith('.d.ts') ? st.mtimeMs : 0;
  let newest = 0;
  for (const e of fs.readdirSync(p)) {
    if (e === 'node_modules' || e === 'dist') continue;
    newest = Math.max(newest, newestMtime(path.join(p, e)));
  }
  return newest;
}

export function ensureCliBuilt(): void {
  const built = fs.statSync(BUILT, { throwIfNoEntry: false })?.mtimeMs ?? 0;
  if (built && built >= Math.max(...SOURCES.map((s) => newestMtime(path.join(ROOT, s))))) return;
  try {
    execFileSync(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'pipe' });
  } catch (err) {
    // Type errors elsewhere in the tree still emit JavaScript; only a missing CLI is fatal.
    if (!fs.existsSync(BUILT)) throw err;
  }
}
