// SPDX-License-Identifier: Apache-2.0
/**
 * The generation model and its users import in one direction (issue 10): no
 * import cycle may pass through the model, the compiler, the bundles, the
 * control channel, trace, plaintext or the enforcer. (Cycles elsewhere are
 * other folders' business; `npx madge --circular` lists every one.)
 */
import * as path from 'node:path';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const madge = require('madge') as (paths: string[], cfg: Record<string, unknown>) => Promise<{ circular(): string[][] }>;

const ROOT = path.resolve(__dirname, '..', '..');
const WATCHED = [
  'model/generation/',
  'proto/cordon/v1/',
  'apps/controller/src/compiler/',
  'apps/controller/src/bundles/',
  'apps/controller/src/control/',
  'apps/controller/src/trace/',
  'apps/controller/src/plaintext/',
  'apps/enforcer/src/',
];

describe('import graph of the generation model and its users', () => {
  it('has no cycle through them', async () => {
    const res = await madge(['apps', 'model', 'proto', 'native/lib'].map((p) => path.join(ROOT, p)), {
      baseDir: ROOT,
      fileExtensions: ['ts'],
      tsConfig: path.join(ROOT, 'tsconfig.json'),
      excludeRegExp: [/\.spec\.ts$/, /\.test\.ts$/, /node_modules/],
    });
    const ours = res.circular().filter((cycle) => cycle.some((f) => WATCHED.some((w) => f.startsWith(w))));
    expect(ours).toEqual([]);
  }, 120_000);
});
