// SPDX-License-Identifier: Apache-2.0
/**
 * /etc/cordon/enforcer.yaml: every flag of `cordon enforcer` under its name
 * without dashes (`interface`, `failsafe` and `label` take a list), each also settable by
 * its CORDON_* variable (CORDON_ENROLL_TOKEN for `token`). Types and formats are
 * checked here, the rest by validateEnforcerConfig() as for flags.
 */
import { z } from 'zod';
import type { DaemonConfigSpec } from '../../daemon/src/config-file';
import { LOG_LEVELS } from '../../daemon/src/logger';
import { parseDuration } from '../../common/src/duration';
import { parseHostPort } from '../../common/src/host-port';

export const ENFORCER_CONFIG_PATH = '/etc/cordon/enforcer.yaml';

const hostPort = z.string().refine((s) => parseHostPort(s) !== null, { message: 'must be HOST:PORT, for example 10.0.0.1:7471' });
const list = z.union([z.string().transform((s) => [s]), z.array(z.string())]);
const absolute = z.string().startsWith('/', 'must be an absolute path');

const schema = z
  .object({
    controller: z.union([hostPort.transform((s) => [s]), z.array(hostPort)]),
    token: z.string().min(1),
    interface: list,
    'state-dir': absolute,
    metrics: hostPort,
    name: z.string().min(1),
    'ca-sha256': z.string().min(1),
    'insecure-skip-ca-check': z.boolean(),
    'flow-interval': z.string().refine((s) => parseDuration(s, { bareUnit: 's' }) !== null, { message: 'must be a duration such as 5s or 500ms' }),
    netns: absolute,
    'datapath-name': z.string().min(1),
    detach: z.boolean(),
    xdp: z.boolean(),
    failsafe: list,
    'link-local': z.enum(['pass', 'drop'], { message: 'must be pass or drop' }),
    'mud-dhcp': z.enum(['on', 'off'], { message: 'must be on or off' }),
    'ready-file': absolute,
    'log-level': z.enum(LOG_LEVELS, { message: `must be one of ${LOG_LEVELS.join(', ')}` }),
    label: list,
    'dns-resolver': list,
    'fqdn-min-ttl': z.string().refine((s) => parseDuration(s, { bareUnit: 's' }) !== null, { message: 'must be a duration such as 60s or 5m' }),
    'dns-proxy-port': z.union([z.number().int(), z.string()]).transform(String),
    'dns-proxy-address': list,
    'fqdn-max-addresses': z.union([z.number().int(), z.string()]).transform(String),
    'fqdn-max-per-name': z.union([z.number().int(), z.string()]).transform(String),
  })
  .partial()
  .strict();

const env = (key: string) => `CORDON_${key.toUpperCase().replace(/-/g, '_')}`;

export const ENFORCER_CONFIG: DaemonConfigSpec = {
  daemon: 'enforcer',
  defaultPath: ENFORCER_CONFIG_PATH,
  schema,
  env: { ...Object.fromEntries(Object.keys(schema.shape).map((k) => [k, env(k)])), token: 'CORDON_ENROLL_TOKEN' },
  lists: ['controller', 'interface', 'failsafe', 'label', 'dns-resolver', 'dns-proxy-address'],
  booleans: ['insecure-skip-ca-check', 'detach'],
};
