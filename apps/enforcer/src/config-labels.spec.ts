import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Command } from 'commander';
import { applyConfigFile } from '../../daemon/src/config-file';
import { validateEnforcerConfig } from './config';
import { ENFORCER_CONFIG } from './config-file';

const collect = (v: string, prev: string[]) => [...prev, v];
const base = { controller: '127.0.0.1:7471', interface: ['eth1'] };

describe('enforcer --label', () => {
  test('labels_are_key_value_pairs_validated_at_start', () => {
    expect(validateEnforcerConfig({ ...base, label: ['site=plant-1', 'cordon.dev/rack=r7', 'empty='] }).labels).toEqual({ site: 'plant-1', 'cordon.dev/rack': 'r7', empty: '' });
    expect(validateEnforcerConfig(base).labels).toEqual({});
    expect(() => validateEnforcerConfig({ ...base, label: ['site'] })).toThrow(/--label: label "site": write KEY=VALUE/);
    expect(() => validateEnforcerConfig({ ...base, label: ['site=plant 1'] })).toThrow(/--label: .*a value is empty or 1 to 63/);
    expect(() => validateEnforcerConfig({ ...base, label: ['-x=1'] })).toThrow(/--label: label key "-x"/);
    expect(() => validateEnforcerConfig({ ...base, label: ['site=a', 'site=b'] })).toThrow(/--label site is given twice \(a and b\)/);
    // The same pair twice is no conflict.
    expect(validateEnforcerConfig({ ...base, label: ['site=a', 'site=a'] }).labels).toEqual({ site: 'a' });
  });

  test('labels_come_from_enforcer_yaml_as_a_list_and_from_CORDON_LABEL', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cordon-labels-'));
    try {
      const f = path.join(dir, 'e.yaml');
      fs.writeFileSync(f, 'label: [site=plant-1, rack=r7]\n');
      const run = (argv: string[], env: NodeJS.ProcessEnv = {}) => {
        const cmd = new Command('enforcer').exitOverride().option('--config <file>').option('--label <kv>', '', collect, [] as string[]);
        cmd.parse(argv, { from: 'user' });
        applyConfigFile(cmd, { ...ENFORCER_CONFIG, defaultPath: path.join(dir, 'absent.yaml') }, env);
        return cmd.opts().label;
      };
      expect(run(['--config', f])).toEqual(['site=plant-1', 'rack=r7']);
      expect(run([], { CORDON_LABEL: 'site=plant-2,rack=r1' })).toEqual(['site=plant-2', 'rack=r1']);
      expect(run(['--config', f, '--label', 'site=plant-3'])).toEqual(['site=plant-3']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
