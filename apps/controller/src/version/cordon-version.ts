// SPDX-License-Identifier: Apache-2.0
/** The version of this build: package.json's, found from here in the checkout, in dist/ and in the package. */
import * as fs from 'node:fs';
import * as path from 'node:path';

function read(): string {
  for (let dir = __dirname, i = 0; i < 8; i++, dir = path.dirname(dir)) {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'cordon' && pkg.version) return pkg.version;
    } catch {
      // not here: one level up
    }
  }
  return 'unknown';
}

export const CORDON_VERSION = read();
