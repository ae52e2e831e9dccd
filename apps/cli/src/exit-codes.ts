// SPDX-License-Identifier: Apache-2.0
/**
 * What `cordon` exits with, so that scripts can tell a refused change from a
 * controller that is not there (README "Exit codes"). `cordon diff` exits 1 when
 * there are differences, as diff(1) and kubectl diff do.
 */
export const EXIT = {
  OK: 0,
  /** Anything else: not found, not allowed, a server error, a failed local operation. */
  FAILURE: 1,
  /** Bad command line, flag value, config file or unreadable input file: nothing was sent. */
  USAGE: 2,
  /** The controller (or local validation) refused: invalid documents, a failing PolicyTest, a version conflict. */
  REFUSED: 3,
  /** The controller could not be reached (connection refused, DNS, TLS). */
  UNREACHABLE: 4,
} as const;

/** The exit code of an HTTP error answer. */
export function exitForStatus(status: number): number {
  return status === 400 || status === 409 || status === 422 ? EXIT.REFUSED : EXIT.FAILURE;
}
