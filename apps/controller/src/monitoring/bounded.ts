// SPDX-License-Identifier: Apache-2.0
/** The LRU trim of apps/common/src/lru.ts, where monitoring's tables have always found it. */
export { trimOldest } from '../../../common/src/lru';
