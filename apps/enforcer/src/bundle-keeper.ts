// SPDX-License-Identifier: Apache-2.0
/**
 * The last full generation the enforcer holds, in memory and in
 * STATE_DIR/bundle.json, and the one way to move it forward: an update
 * (snapshot, or delta on exactly this generation) that, applied with the
 * model's own code (model/generation/delta.ts), gives the update's digest;
 * applied to the datapath atomically before it is kept.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { BundleUpdate } from '../../../proto/cordon/v1/control';
import { deltaFromWire, fromSnapshot } from '../../../proto/cordon/v1/bundle';
import type { Bundle } from '../../../model/generation/bundle';
import { applyDelta, DeltaMismatchError } from '../../../model/generation/delta';
import { bundleHash } from '../../../model/generation/digest';

export class ResyncNeeded extends Error {}

export class BundleKeeper {
  private cur: Bundle | null = null;

  constructor(private readonly file: string) {}

  static inDir(stateDir: string): BundleKeeper {
    return new BundleKeeper(path.join(stateDir, 'bundle.json'));
  }

  get current(): Bundle | null {
    return this.cur;
  }

  /** Loads bundle.json; a corrupt or tampered file (its content does not give its digest) is ignored: a snapshot will follow. */
  load(): Bundle | null {
    try {
      const raw = JSON.parse(fs.readFileSync(this.file, 'utf8')) as { state?: Bundle };
      const b = raw?.state;
      this.cur = b && typeof b.hash === 'string' && bundleHash(b) === b.hash ? b : null;
    } catch {
      this.cur = null;
    }
    return this.cur;
  }

  /** The generation an update leads to; throws ResyncNeeded when it cannot be built from what we hold. */
  resolve(u: BundleUpdate): Bundle {
    if (u.snapshot) {
      const next = fromSnapshot(u.generation, u.hash, u.snapshot);
      if (bundleHash(next) !== u.hash) throw new ResyncNeeded(`digest mismatch at generation ${u.generation}`);
      return next;
    }
    if (u.delta) {
      if (!this.cur || this.cur.generation !== u.delta.baseGeneration) {
        throw new ResyncNeeded(`delta from generation ${u.delta.baseGeneration}, but we hold ${this.cur?.generation ?? 'none'}`);
      }
      try {
        // applyDelta checks the digest of what it builds against the update's.
        return applyDelta(this.cur, deltaFromWire(u.delta, u.generation, u.hash));
      } catch (err) {
        if (err instanceof DeltaMismatchError) throw new ResyncNeeded(`digest mismatch at generation ${u.generation}: ${err.message}`);
        throw err;
      }
    }
    throw new ResyncNeeded('an update with neither snapshot nor delta');
  }

  /** Keeps a generation that the datapath now enforces. */
  commit(b: Bundle): void {
    this.cur = b;
    fs.mkdirSync(path.dirname(this.file), { recursive: true, mode: 0o700 });
    fs.writeFileSync(this.file + '.tmp', JSON.stringify({ state: b }));
    fs.renameSync(this.file + '.tmp', this.file);
  }

  /** Forget the in-memory base so the next watch asks for a snapshot (the datapath keeps enforcing). */
  forget(): void {
    this.cur = null;
  }
}
