// SPDX-License-Identifier: Apache-2.0
/**
 * The PSK file a service reads, in Mosquitto's psk_file format: one
 * `identity:hexkey` a line. It is the only place PSKs are kept (the store holds
 * fingerprints), rewritten atomically (temp file + rename, mode 0600) on every
 * change, so a reader sees the old file or the new one, never half of one.
 * Mosquitto reads it at start and on SIGHUP.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export class PskFile {
  private readonly keys = new Map<string, string>();

  constructor(readonly file: string) {}

  /** Reads the keys already in the file (a restart keeps them). */
  load(): void {
    let text = '';
    try {
      text = fs.readFileSync(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    for (const line of text.split('\n')) {
      const i = line.indexOf(':');
      if (i > 0 && /^[0-9a-fA-F]+$/.test(line.slice(i + 1).trim())) this.keys.set(line.slice(0, i), line.slice(i + 1).trim());
    }
  }

  set(identity: string, hexKey: string): void {
    this.keys.set(identity, hexKey);
  }

  delete(identity: string): void {
    this.keys.delete(identity);
  }

  /** Writes exactly the `live` identities; returns those it has no key for. */
  write(live: string[]): string[] {
    const missing: string[] = [];
    const lines: string[] = [];
    const keep = new Set(live);
    for (const id of live) {
      const k = this.keys.get(id);
      if (k) lines.push(`${id}:${k}`);
      else missing.push(id);
    }
    for (const id of [...this.keys.keys()]) if (!keep.has(id)) this.keys.delete(id);
    fs.mkdirSync(path.dirname(this.file), { recursive: true, mode: 0o700 });
    const tmp = `${this.file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, lines.length ? lines.join('\n') + '\n' : '', { mode: 0o600 });
    fs.renameSync(tmp, this.file);
    return missing;
  }
}
