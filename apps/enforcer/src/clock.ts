// SPDX-License-Identifier: Apache-2.0
/**
 * The enforcer's wall clock, for schedules. CORDON_TEST_CLOCK_OFFSET_MS (test
 * only: not a flag, not in the configuration file, never set on a gateway)
 * shifts it by that many milliseconds, so that a test reaches a schedule's
 * boundary without waiting for the real one.
 */
export function clockOffsetMs(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.CORDON_TEST_CLOCK_OFFSET_MS;
  if (raw === undefined || raw === '') return 0;
  const n = Number(raw);
  if (!Number.isFinite(n)) throw new Error(`CORDON_TEST_CLOCK_OFFSET_MS=${raw}: expected a number of milliseconds`);
  return n;
}

export function enforcerClock(env: NodeJS.ProcessEnv = process.env): () => number {
  const offset = clockOffsetMs(env);
  return offset === 0 ? Date.now : () => Date.now() + offset;
}
