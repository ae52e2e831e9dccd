// SPDX-License-Identifier: Apache-2.0
/** `host:port` as every address flag takes it: a name or IPv4 address, or an IPv6 address in brackets. The one parser of them. */

export interface HostPort {
  /** Without brackets: `::1`, `127.0.0.1`, `controller.local`. */
  host: string;
  port: number;
}

/** The host and port of `HOST:PORT` / `[V6]:PORT` (port 0..65535), or null when the text is not one. */
export function parseHostPort(text: string): HostPort | null {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s]+)):(\d{1,5})$/.exec(text.trim());
  if (!m) return null;
  const port = Number(m[3]);
  return port <= 65535 ? { host: m[1] ?? m[2], port } : null;
}
