// SPDX-License-Identifier: Apache-2.0
/** The one --watch loop: poll every `intervalMs` until SIGINT/SIGTERM (ctx.stopSignal). */
import type { CliContext } from './context';

export async function watchLoop(ctx: CliContext, intervalMs: number, poll: () => Promise<void>): Promise<void> {
  let stop = false;
  let wake: (() => void) | null = null;
  let timer: NodeJS.Timeout | undefined;
  void ctx.stopSignal().then(() => {
    stop = true;
    clearTimeout(timer);
    wake?.();
  });
  while (!stop) {
    await new Promise<void>((r) => {
      wake = r;
      timer = setTimeout(r, Math.max(100, intervalMs));
    });
    if (!stop) await poll();
  }
}
