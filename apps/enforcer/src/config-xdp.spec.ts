import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Command } from 'commander';
import { applyConfigFile } from '../../daemon/src/config-file';
import { validateEnforcerConfig } from './config';
import { ENFORCER_CONFIG } from './config-file';

const base = { controller: '127.0.0.1:7471', interface: ['eth1'] };

describe('enforcer --xdp', () => {
  test('the xdp short_cut is off unless --xdp or xdp: true in enforcer.yaml', () => {
    expect(validateEnforcerConfig(base).xdp).toBe(false);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cordon-xdp-'));
    try {
      const f = path.join(dir, 'e.yaml');
      fs.writeFileSync(f, 'xdp: true\n');
      const run = (argv: string[]) => {
        const cmd = new Command('enforcer').exitOverride().option('--config <file>').option('--xdp');
        cmd.parse(argv, { from: 'user' });
        applyConfigFile(cmd, { ...ENFORCER_CONFIG, defaultPath: path.join(dir, 'absent.yaml') }, {});
        return validateEnforcerConfig({ ...base, xdp: cmd.opts().xdp }).xdp;
      };
      expect(run([])).toBe(false);
      expect(run(['--xdp'])).toBe(true);
      expect(run(['--config', f])).toBe(true);
      fs.writeFileSync(f, 'xdp: "no"\n');
      expect(() => run(['--config', f])).toThrow(/xdp/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
