// SPDX-License-Identifier: Apache-2.0
/**
 * /etc/cordon/controller.yaml: every flag of `cordon controller` (config.ts and
 * the device-CA flags of credentials.config.ts) under its name without dashes,
 * each also settable by its CORDON_* variable. Types and formats are checked
 * here, ranges by validateConfig() as for flags.
 */
import { z } from 'zod';
import type { DaemonConfigSpec } from '../../daemon/src/config-file';
import { LOG_LEVELS } from '../../daemon/src/logger';
import { CREDENTIAL_ENV } from './credentials/credentials.config';
import { DURATION_PATTERN } from '../../common/src/duration';

export const CONTROLLER_CONFIG_PATH = '/etc/cordon/controller.yaml';

const HOST_PORT = /^(?:\[[0-9a-fA-F:.]+\]|[^:\s]+):\d{1,5}$/;
const hostPort = z.string().regex(HOST_PORT, 'must be HOST:PORT, for example 127.0.0.1:7470');
const duration = z.string().regex(DURATION_PATTERN, 'must be a duration such as 24h, 30m, 90s or 7d');
const file = z.string().min(1, 'must be a file path');

const schema = z
  .object({
    http: hostPort,
    grpc: hostPort,
    'data-dir': z.string().min(1, 'must be a directory'),
    'database-url': z.string().regex(/^postgres(ql)?:\/\/.+/, 'must be a postgres:// or postgresql:// URL'),
    'log-level': z.enum(LOG_LEVELS, { message: `must be one of ${LOG_LEVELS.join(', ')}` }),
    'cert-ttl': duration,
    'learning-window': duration,
    syslog: z.string().regex(/^(udp|tcp):\/\/.+:\d{1,5}$/, 'must be udp://HOST:PORT or tcp://HOST:PORT'),
    'syslog-format': z.enum(['rfc5424', 'cef'], { message: 'must be rfc5424 or cef' }),
    'max-body': z.string().regex(/^\d+\s*[a-zA-Z]*$/, 'must be a size such as 64MiB or 512KiB'),
    'stream-rows-per-second': z.union([z.number().int().positive(), z.string().regex(/^\d+$/, 'must be a whole number')]),
    'streams-per-token': z.union([z.number().int().positive(), z.string().regex(/^\d+$/, 'must be a whole number')]),
    est: z.string().refine((s) => s === 'off' || HOST_PORT.test(s), 'must be HOST:PORT or off'),
    'kek-file': file,
    'pkcs11-module': file,
    'pkcs11-token': z.string().min(1),
    'pkcs11-pin-file': file,
    'psk-file': file,
    'credential-lifetime': duration,
    'credential-overlap': duration,
    'mud-trust-anchors': file,
    'mud-ca': file,
    'mud-fetch-timeout': duration,
    id: z.string().min(1, 'must be a name'),
    'dns-resolver': z.union([z.string(), z.array(z.string())], { error: 'must be an address or a list of addresses' }).transform((v) => (typeof v === 'string' ? [v] : v)),
  })
  .partial()
  .strict();

const env = (key: string) => `CORDON_${key.toUpperCase().replace(/-/g, '_')}`;
const KEYS = Object.keys(schema.shape);

export const CONTROLLER_CONFIG: DaemonConfigSpec = {
  daemon: 'controller',
  defaultPath: CONTROLLER_CONFIG_PATH,
  schema,
  // CORDON_DATABASE_URL, CORDON_KEK_FILE, CORDON_LEARNING_WINDOW… (the names credentials.config.ts and monitoring/settings.ts read).
  env: {
    ...Object.fromEntries(KEYS.map((k) => [k, env(k)])),
    est: CREDENTIAL_ENV.est,
    'kek-file': CREDENTIAL_ENV.kekFile,
    'credential-lifetime': CREDENTIAL_ENV.lifetime,
    'credential-overlap': CREDENTIAL_ENV.overlap,
  },
  // CORDON_DNS_RESOLVER="10.10.53.2 fd00::53"
  lists: ['dns-resolver'],
};
