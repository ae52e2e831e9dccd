// SPDX-License-Identifier: Apache-2.0
/**
 * The last full generation the enforcer holds, in memory and in
 * STATE_DIR/bundle.json, and the one way to move it forward: an update
 * (snapshot, or delta on exactly this generation) whose digest checks out,
 * applied to the datapath atomically before it is kept.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { BundleUpdate } from '../../../proto/cordon/v1/control';
import { BundleState, applyDelta, bundleDigest, fromSnapshot } from '../../../proto/cordon/v1/bundle';

export class ResyncNeeded extends Error {}

export class BundleKeeper {
  private cur: BundleState | null = null;

  constructor(private readonly file: string) {}

  static inDir(stateDir: string): BundleKeeper {
    return new BundleKeeper(path.join(stateDir, 'bundle.json'));
  }

  get current(): BundleState | null {
    return this.cur;
  }

  /** Loads bundle.json; a corrupt or tampered file is ignored (a snapshot will follow). */
  load(): BundleState | null {
    try {
      const raw = JSON.parse(fs.readFileSync(this.file, 'utf8')) as { state: BundleState; digest: string };
      if (raw?.state && bundleDigest(raw.state) === raw.digest) this.cur = raw.state;
    } catch {
      this.cur = null;
    }
    return this.cur;
  }

  /** The generation an update leads to; throws ResyncNeeded when it cannot be built from what we hold. */
  resolve(u: BundleUpdate): BundleState {
    let next: BundleState;
    if (u.snapshot) {
      next = fromSnapshot(u.generation, u.hash, u.snapshot);
    } else if (u.delta) {
      if (!this.cur || this.cur.generation !== u.delta.baseGeneration) {
        throw new ResyncNeeded(`delta from generation ${u.delta.baseGeneration}, but we hold ${this.cur?.generation ?? 'none'}`);
      }
      next = applyDelta(this.cur, u.delta, u.generation, u.hash);
    } else {
      throw new ResyncNeeded('an update with neither snapshot nor delta');
    }
    const d = bundleDigest(next);
    if (u.digest && d !== u.digest) throw new ResyncNeeded(`digest mismatch at generation ${u.generation}`);
    return next;
  }

  /** Keeps a generation that the datapath now enforces. */
  commit(s: BundleState): void {
    this.cur = s;
    fs.mkdirSync(path.dirname(this.file), { recursive: true, mode: 0o700 });
    fs.writeFileSync(this.file + '.tmp', JSON.stringify({ digest: bundleDigest(s), state: s }));
    fs.renameSync(this.file + '.tmp', this.file);
  }

  /** Forget the in-memory base so the next watch asks for a snapshot (the datapath keeps enforcing). */
  forget(): void {
    this.cur = null;
  }
}
