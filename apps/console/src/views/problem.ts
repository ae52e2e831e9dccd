// SPDX-License-Identifier: Apache-2.0
import { ApiError } from '../api';

/** A refusal in the controller's words: "403 Forbidden: this needs the operator role; …". */
export function problemText(e: unknown): string {
  if (e instanceof ApiError) return `${e.status} ${e.problem.title ?? ''}: ${e.problem.detail ?? ''}`.trim();
  return (e as Error).message ?? String(e);
}
