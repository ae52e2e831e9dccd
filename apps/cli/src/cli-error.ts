// SPDX-License-Identifier: Apache-2.0
/** An error meant for the user: printed without a stack, exits with `code`. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly code = 1,
  ) {
    super(message);
  }
}
