// SPDX-License-Identifier: Apache-2.0
// Enrollment tokens are stored as the sha256 (hex) of their secret: the same
// function as tokens.service.ts hashToken, re-exported so tests need no Nest.
export { hashToken } from '../../tokens/tokens.service';
