// SPDX-License-Identifier: Apache-2.0
/**
 * A daemon's configuration file (/etc/cordon/controller.yaml,
 * /etc/cordon/enforcer.yaml): YAML whose keys are the daemon's flags without the
 * leading dashes (`log-level: debug` is `--log-level debug`), validated with zod
 * like the policy documents. What wins, first to last: a flag on the command
 * line, its environment variable, the file, the built-in default.
 *
 * The default path is read when it exists; a path given with --config must exist. A bad file throws ConfigFileError, which the CLI
 * turns into exit code 2 (the units' RestartPreventExitStatus=2).
 */
import * as fs from 'node:fs';
import type { Command } from 'commander';
import YAML from 'yaml';
import type { z } from 'zod';

export class ConfigFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigFileError';
  }
}

export interface DaemonConfigSpec {
  /** `controller` or `enforcer`, for messages. */
  daemon: string;
  /** Read when it exists and no --config is given. */
  defaultPath: string;
  /** Keys are flag names without `--`; every key optional, unknown keys refused. */
  schema: z.ZodType<Record<string, unknown>>;
  /** Environment variable of each key that has one. */
  env: Record<string, string>;
  /** Keys of repeatable flags: a list in the file, comma- or space-separated in the environment. */
  lists?: readonly string[];
  /** Keys of flags without a value: true/false in the file, 1/true/yes in the environment. */
  booleans?: readonly string[];
}

/** `log-level` → `logLevel`, the attribute commander keeps the flag under. */
export const optionKey = (flag: string) => flag.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());

/** The validated contents of FILE ({} when it is the default path and absent). */
export function readConfigFile(spec: DaemonConfigSpec, file: string, explicit: boolean): Record<string, unknown> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && !explicit) return {};
    throw new ConfigFileError(`cannot read the ${spec.daemon} configuration ${file}: ${code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
  const doc = YAML.parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length) {
    throw new ConfigFileError(`${file} is not valid YAML:\n${doc.errors.map((e) => `  ${e.message.split('\n')[0]}`).join('\n')}`);
  }
  const data = doc.toJS() ?? {};
  if (typeof data !== 'object' || Array.isArray(data)) {
    throw new ConfigFileError(`${file} must be a YAML mapping of ${spec.daemon} flags without their dashes (for example "log-level: info")`);
  }
  const r = spec.schema.safeParse(data);
  if (!r.success) {
    const lines = r.error.issues.map((i) => {
      const where = i.path.length ? i.path.join('.') : '';
      return `  ${where ? `${where}: ` : ''}${i.message}`;
    });
    throw new ConfigFileError(`invalid ${spec.daemon} configuration ${file}:\n${lines.join('\n')}\n(keys are the flags of \`cordon ${spec.daemon}\` without the dashes; see \`cordon ${spec.daemon} --help\`)`);
  }
  return r.data;
}

function fromEnv(spec: DaemonConfigSpec, key: string, text: string): unknown {
  if (spec.lists?.includes(key)) return text.split(/[\s,]+/).filter(Boolean);
  if (spec.booleans?.includes(key)) return /^(1|true|yes|on)$/i.test(text.trim());
  return text;
}

/**
 * Fills the options of CMD (before its action runs) from the environment and the
 * file, leaving alone what the command line set. Returns the file that was read, if any.
 */
export function applyConfigFile(cmd: Command, spec: DaemonConfigSpec, env: NodeJS.ProcessEnv): string | undefined {
  const given = cmd.getOptionValueSource('config') === 'cli' ? (cmd.opts().config as string) : undefined;
  const file = given ?? spec.defaultPath;
  const values = readConfigFile(spec, file, given !== undefined);
  const keys = new Set([...Object.keys(spec.env), ...Object.keys(values)]);
  for (const key of keys) {
    const attr = optionKey(key);
    if (cmd.getOptionValueSource(attr) === 'cli') continue;
    const envName = spec.env[key];
    const fromEnvText = envName ? env[envName] : undefined;
    if (fromEnvText !== undefined && fromEnvText !== '') cmd.setOptionValueWithSource(attr, fromEnv(spec, key, fromEnvText), 'env');
    else if (values[key] !== undefined) cmd.setOptionValueWithSource(attr, values[key], 'config');
  }
  return fs.existsSync(file) ? file : undefined;
}
