// SPDX-License-Identifier: Apache-2.0
/**
 * The daemons' logger (controller and enforcer): pino at the level of
 * `--log-level`, written to stderr; human-readable (pino-pretty) when stderr is
 * a terminal, one JSON object a line otherwise (journald, files, collectors).
 * CORDON_LOG_FORMAT=json|pretty overrides the guess.
 */
import pino, { type Logger, type LoggerOptions } from 'pino';
import pretty from 'pino-pretty';

/** What `--log-level` accepts, most verbose first. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export function isLogLevel(s: unknown): s is LogLevel {
  return typeof s === 'string' && (LOG_LEVELS as readonly string[]).includes(s);
}

export type LogFormat = 'json' | 'pretty';

/** pretty on a terminal, json elsewhere; CORDON_LOG_FORMAT decides when set. */
export function logFormat(env: NodeJS.ProcessEnv = process.env, stream: { isTTY?: boolean } = process.stderr): LogFormat {
  const f = env.CORDON_LOG_FORMAT;
  if (f === 'json' || f === 'pretty') return f;
  return stream.isTTY ? 'pretty' : 'json';
}

export function daemonLogger(svc: string, level: LogLevel, extra: Pick<LoggerOptions, 'redact'> = {}): Logger {
  const opts: LoggerOptions = { level, base: { svc }, ...extra };
  if (logFormat() === 'pretty') {
    // Synchronous, in this thread: no worker to resolve modules for, and nothing lost on exit.
    return pino(opts, pretty({ destination: 2, sync: true, colorize: !process.env.NO_COLOR, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,svc' }));
  }
  return pino(opts, pino.destination({ fd: 2, sync: true }));
}
