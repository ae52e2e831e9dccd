// SPDX-License-Identifier: Apache-2.0
/**
 * The layout stays easy to see (issue 10): no import cycle inside or between
 * the folders of apps/, proto/ and native/lib, and no source file over ~400
 * lines outside tests and generated code.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
// madge ships no types: the one call this test makes
const madge = require('madge') as (paths: string[], cfg: Record<string, unknown>) => Promise<{ circular(): string[][] }>;

const ROOT = join(__dirname, '../..');
const SOURCES = ['apps', 'model', 'proto', 'native/lib'];
const MAX_LINES = 420;

test('no import cycle in apps/, model/, proto/ or native/lib', async () => {
  const graph = await madge(SOURCES.map((s) => join(ROOT, s)), {
    baseDir: ROOT,
    fileExtensions: ['ts'],
    tsConfig: join(ROOT, 'tsconfig.json'),
    excludeRegExp: [/node_modules/, /\/dist\//, /\.spec\.ts$/, /\.test\.ts$/],
  });
  expect(graph.circular()).toEqual([]);
}, 60000);

test(`no source file over ${MAX_LINES} lines outside tests and generated code`, () => {
  const files = execFileSync('git', ['ls-files', '--', ...SOURCES.map((s) => `${s}/*.ts`)], { cwd: ROOT, encoding: 'utf8' })
    .split('\n')
    .filter((f) => f && !/\.(spec|test)\.ts$/.test(f) && !/\/generated\//.test(f) && !f.endsWith('.generated.ts'));
  expect(files.length).toBeGreaterThan(50);
  const long = files
    .map((f) => ({ f, lines: readFileSync(join(ROOT, f), 'utf8').split('\n').length }))
    .filter((x) => x.lines > MAX_LINES)
    .map((x) => `${x.f}: ${x.lines}`);
  expect(long).toEqual([]);
});
