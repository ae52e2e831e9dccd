// SPDX-License-Identifier: Apache-2.0
/** The caps of GET /v1/flows/stream (flow-stream.ts), on their own: control.ports.ts names them. */
export interface StreamLimits {
  /** Rows a stream sends in a second; beyond, aggregate events. */
  rowsPerSecond: number;
  /** Streams open at once per API token (the next gets 429). */
  perToken: number;
  /** A comment line this often keeps proxies from closing an idle stream. */
  heartbeatMs: number;
  /** How often a stream looks for new flows. */
  tickMs: number;
  /** A client that has not taken a byte for this long is cut. */
  stallMs: number;
}

export const STREAM_DEFAULTS: StreamLimits = { rowsPerSecond: 500, perToken: 4, heartbeatMs: 15_000, tickMs: 250, stallMs: 60_000 };
