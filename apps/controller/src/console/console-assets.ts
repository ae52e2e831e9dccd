// SPDX-License-Identifier: Apache-2.0
/**
 * The web console's files (apps/console): index.html from its source folder,
 * app.js and app.css from the bundle `npm run build:console` writes to
 * apps/console/dist. Only these three are ever served (no path from a request
 * reaches the file system); each is read once and kept.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface Asset {
  body: Buffer;
  type: string;
}

/** Request name -> where it lies under apps/console, and its media type. */
const FILES: Record<string, { rel: string; type: string }> = {
  'index.html': { rel: 'index.html', type: 'text/html; charset=utf-8' },
  'app.js': { rel: path.join('dist', 'app.js'), type: 'text/javascript; charset=utf-8' },
  'app.css': { rel: path.join('dist', 'app.css'), type: 'text/css; charset=utf-8' },
};

/**
 * The page's policy: its own script and style only (no inline code, no eval),
 * requests only to this controller, never framed, no form posts anywhere.
 */
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** apps/console, found upwards from here (source under tsx, or the tsc build in dist/). */
function consoleDir(from = __dirname): string | null {
  for (let d = from; ; d = path.dirname(d)) {
    const c = path.join(d, 'apps', 'console');
    if (fs.existsSync(path.join(c, 'index.html'))) return c;
    if (path.dirname(d) === d) return null;
  }
}

export class ConsoleAssets {
  private readonly cache = new Map<string, Asset>();
  constructor(private readonly dir: string | null = consoleDir()) {}

  static readonly names = Object.keys(FILES);

  /** The asset, or null when the name is not one of the console's or the bundle was not built. */
  get(name: string): Asset | null {
    const f = Object.prototype.hasOwnProperty.call(FILES, name) ? FILES[name] : undefined;
    if (!f || !this.dir) return null;
    const hit = this.cache.get(name);
    if (hit) return hit;
    let body: Buffer;
    try {
      body = fs.readFileSync(path.join(this.dir, f.rel));
    } catch {
      return null; // not built (yet): asked again next time
    }
    const a = { body, type: f.type };
    this.cache.set(name, a);
    return a;
  }
}
