import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Command } from 'commander';
import { applyConfigFile, ConfigFileError } from '../../daemon/src/config-file';
import { validateEnforcerConfig } from './config';
import { ENFORCER_CONFIG } from './config-file';

const base = { controller: '127.0.0.1:7471', interface: ['eth1'] };

describe('enforcer --mud-dhcp', () => {
  test('off_starts_no_dhcp_tap_on_leaves_the_default_and_anything_else_is_refused', () => {
    expect(validateEnforcerConfig({ ...base, mudDhcp: 'off' }).dhcpTap).toBe(false);
    expect(validateEnforcerConfig({ ...base, mudDhcp: 'on' }).dhcpTap).toBeUndefined(); // the enforcer picks the addon's tap
    expect(validateEnforcerConfig(base).dhcpTap).toBeUndefined();
    expect(() => validateEnforcerConfig({ ...base, mudDhcp: 'no' })).toThrow(/--mud-dhcp must be on or off, got "no"/);
  });

  test('mud_dhcp_comes_from_enforcer_yaml_and_CORDON_MUD_DHCP', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cordon-mud-dhcp-'));
    try {
      const f = path.join(dir, 'e.yaml');
      const run = (argv: string[], env: NodeJS.ProcessEnv = {}) => {
        const cmd = new Command('enforcer').exitOverride().option('--config <file>').option('--mud-dhcp <on|off>', '', 'on');
        cmd.parse(argv, { from: 'user' });
        applyConfigFile(cmd, { ...ENFORCER_CONFIG, defaultPath: path.join(dir, 'absent.yaml') }, env);
        return validateEnforcerConfig({ ...base, mudDhcp: cmd.opts().mudDhcp }).dhcpTap;
      };
      fs.writeFileSync(f, 'mud-dhcp: off\n');
      expect(run(['--config', f])).toBe(false);
      expect(run(['--config', f, '--mud-dhcp', 'on'])).toBeUndefined();
      expect(run([], { CORDON_MUD_DHCP: 'off' })).toBe(false);
      expect(run([])).toBeUndefined();
      fs.writeFileSync(f, 'mud-dhcp: maybe\n');
      expect(() => run(['--config', f])).toThrow(ConfigFileError);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
