import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Command } from 'commander';
import { ENFORCER_CONFIG } from '../../enforcer/src/config-file';
import { CONTROLLER_CONFIG } from '../../controller/src/config-file';
import { applyConfigFile, ConfigFileError, readConfigFile } from './config-file';

const collect = (v: string, prev: string[]) => [...prev, v];

/** A command shaped like `cordon enforcer`: parsed ARGV, then the file applied as the preAction hook does. */
function enforcer(argv: string[], env: NodeJS.ProcessEnv = {}) {
  const cmd = new Command('enforcer')
    .exitOverride()
    .option('--config <file>')
    .option('--controller <host:port>')
    .option('--interface <if>', '', collect, [] as string[])
    .option('--metrics <host:port>', '', '127.0.0.1:7472')
    .option('--log-level <level>', '', 'info')
    .option('--detach')
    .option('--token <join>');
  cmd.parse(argv, { from: 'user' });
  applyConfigFile(cmd, { ...ENFORCER_CONFIG, defaultPath: path.join(dir, 'absent.yaml') }, env);
  return cmd.opts();
}

let dir: string;
beforeAll(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cordon-config-file-'))));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const write = (name: string, text: string) => {
  const f = path.join(dir, name);
  fs.writeFileSync(f, text);
  return f;
};

describe('daemon configuration files', () => {
  test('config_file_values_fill_what_no_flag_set_and_lists_and_booleans_keep_their_type', () => {
    const f = write('e.yaml', 'controller: 10.0.0.1:7471\ninterface: [eth1, eth2]\nmetrics: 127.0.0.1:9000\nlog-level: debug\ndetach: true\n');
    expect(enforcer(['--config', f])).toMatchObject({ controller: ['10.0.0.1:7471'], interface: ['eth1', 'eth2'], metrics: '127.0.0.1:9000', logLevel: 'debug', detach: true });
    // One interface may be a bare string.
    expect(enforcer(['--config', write('one.yaml', 'interface: eth1\n')]).interface).toEqual(['eth1']);
  });

  test('config_flags_win_over_the_environment_which_wins_over_the_file', () => {
    const f = write('p.yaml', 'controller: 10.0.0.1:7471\ninterface: [eth1]\nlog-level: debug\nmetrics: 127.0.0.1:9000\n');
    const env = { CORDON_LOG_LEVEL: 'warn', CORDON_INTERFACE: 'eth7, eth8', CORDON_ENROLL_TOKEN: 'cdn_x.ab', CORDON_METRICS: '127.0.0.1:9100' };
    const o = enforcer(['--config', f, '--metrics', '127.0.0.1:9200'], env);
    expect(o).toMatchObject({ controller: ['10.0.0.1:7471'], logLevel: 'warn', interface: ['eth7', 'eth8'], token: 'cdn_x.ab', metrics: '127.0.0.1:9200' });
    // Flags of a repeatable option replace the file's list rather than adding to it.
    expect(enforcer(['--config', f, '--interface', 'eth3']).interface).toEqual(['eth3']);
  });

  test('config_absent_default_file_is_no_error_but_an_absent_given_one_is', () => {
    expect(enforcer([]).metrics).toBe('127.0.0.1:7472');
    expect(() => enforcer(['--config', path.join(dir, 'nope.yaml')])).toThrow(/cannot read the enforcer configuration .*nope\.yaml: no such file/);
  });

  test('config_bad_files_are_refused_naming_the_file_and_each_key', () => {
    const bad = write('bad.yaml', 'controler: 10.0.0.1:7471\nlog-level: loud\ninterface: 5\n');
    let err: unknown;
    try {
      readConfigFile(ENFORCER_CONFIG, bad, true);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigFileError);
    const msg = (err as Error).message;
    expect(msg).toContain(bad);
    expect(msg).toMatch(/Unrecognized key.*controler/);
    expect(msg).toMatch(/log-level: must be one of trace, debug, info, warn, error/);
    expect(msg).toMatch(/interface: /);
    expect(() => readConfigFile(ENFORCER_CONFIG, write('y.yaml', 'interface: [eth1\n'), true)).toThrow(/is not valid YAML/);
    expect(() => readConfigFile(ENFORCER_CONFIG, write('list.yaml', '- eth1\n'), true)).toThrow(/must be a YAML mapping/);
    expect(() => readConfigFile(CONTROLLER_CONFIG, write('c.yaml', 'http: localhost\ncert-ttl: forever\n'), true)).toThrow(/http: must be HOST:PORT[\s\S]*cert-ttl: must be a duration/);
  });

  test('config_controller_keys_cover_the_device_ca_flags_under_their_existing_variables', () => {
    expect(CONTROLLER_CONFIG.env['kek-file']).toBe('CORDON_KEK_FILE');
    expect(CONTROLLER_CONFIG.env['database-url']).toBe('CORDON_DATABASE_URL');
    expect(CONTROLLER_CONFIG.env['learning-window']).toBe('CORDON_LEARNING_WINDOW');
    expect(readConfigFile(CONTROLLER_CONFIG, write('ca.yaml', 'kek-file: /etc/cordon/kek\nest: "off"\npkcs11-token: t\n'), true)).toEqual({ 'kek-file': '/etc/cordon/kek', est: 'off', 'pkcs11-token': 't' });
  });
});
