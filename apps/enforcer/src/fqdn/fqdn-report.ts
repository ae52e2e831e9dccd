// SPDX-License-Identifier: Apache-2.0
/**
 * What the enforcer tells the controller it has learned from DNS answers
 * (ReportFqdn, for `cordon get fqdn`): the whole list, sent when it changed,
 * at most every interval. Bounded to what one control message carries: the
 * entries that expire last first, up to MAX_REPORTED or MAX_REPORT_BYTES, with
 * the total so the controller can say that some were left out.
 */
import type { FqdnReport, LearnedName } from '../../../../proto/cordon/v1/control';
import type { LearnedView } from './learned-names';

export const MAX_REPORTED = 20_000;
/** Under the controller's 4 MiB receive limit, with room for the framing. */
export const MAX_REPORT_BYTES = 3 * 1024 * 1024;

/** A report of `entries` (any order), bounded by count and by encoded size (estimated from the fields). */
export function fqdnReport(enforcer: string, entries: readonly LearnedView[], maxEntries = MAX_REPORTED, maxBytes = MAX_REPORT_BYTES): FqdnReport {
  const sorted = [...entries].sort((a, b) => b.expiresAt - a.expiresAt);
  const names: LearnedName[] = [];
  let bytes = 0;
  for (const e of sorted) {
    // a LearnedName's fields, their tags and lengths, and the repeated field's own tag and length
    const size = e.name.length + e.address.length + e.selectors.reduce((n, s) => n + s.length + 2, 0) + 20;
    if (names.length >= maxEntries || bytes + size > maxBytes) break;
    bytes += size;
    names.push({ name: e.name, address: e.address, expiresAt: e.expiresAt, selectors: [...e.selectors] });
  }
  return { enforcer, names, total: entries.length };
}

/** Sends a report when the learned names changed since the last one that went through. */
export class FqdnReporter {
  private sent = -1;
  private unimplemented = false;

  constructor(
    private readonly enforcer: string,
    private readonly source: { changes: number; list(): LearnedView[] },
    private readonly send: (r: FqdnReport) => Promise<unknown>,
    private readonly onOldController: () => void,
  ) {}

  /** After a move to another controller: the next tick sends the whole list again. */
  reset(): void {
    this.sent = -1;
    this.unimplemented = false;
  }

  async tick(): Promise<void> {
    const changes = this.source.changes;
    if (changes === this.sent || this.unimplemented) return;
    try {
      await this.send(fqdnReport(this.enforcer, this.source.list()));
      this.sent = changes;
    } catch (err) {
      // An older controller has no ReportFqdn: say so once, and stop asking it.
      if ((err as { code?: number }).code === 12 /* UNIMPLEMENTED */) {
        this.unimplemented = true;
        this.onOldController();
      } else throw err;
    }
  }
}
