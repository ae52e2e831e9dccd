// SPDX-License-Identifier: Apache-2.0
/**
 * Where the control channel goes, as addresses: the failsafe keeps this
 * host's connection to them open whatever the policy says.
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { parseHostPort } from '../../common/src/host-port';

export interface ControllerEndpoint {
  addresses: string[];
  port: number;
}

/** HOST:PORT or [V6]:PORT to addresses and port; a name is resolved (all its addresses), bounded by timeoutMs. */
export async function resolveController(controller: string, timeoutMs = 5000): Promise<ControllerEndpoint> {
  const hp = parseHostPort(controller);
  if (!hp) throw new Error(`--controller must be HOST:PORT, got "${controller}"`);
  const { host, port } = hp;
  if (isIP(host)) return { addresses: [host], port };
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`resolving ${host} took over ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    const found = await Promise.race([lookup(host, { all: true }), timeout]);
    return { addresses: [...new Set(found.map((a) => a.address))].sort(), port };
  } finally {
    clearTimeout(timer);
  }
}
