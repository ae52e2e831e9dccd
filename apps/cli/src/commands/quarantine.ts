import type { Command } from 'commander';
import { CliContext, Client, clientOptions, ClientOptions, outputFormat } from '../context';
import { printValue } from '../output/format';
import { formatChange, refuse } from './apply';

export function register(program: Command, ctx: CliContext): void {
  const q = program.command('quarantine').description('move a device to the quarantine segment on every enforcer, or release it');
  clientOptions(q.command('add').argument('<device>').option('--reason <text>')).action(async (device: string, o: ClientOptions & { reason?: string }) => {
    const format = outputFormat(o);
    let r;
    try {
      r = await new Client(o, ctx.env).json('POST', '/v1/quarantine', { device, reason: o.reason });
    } catch (err) {
      refuse(ctx, err);
    }
    printValue(ctx, format, r, () => formatChange(r));
  });
  clientOptions(q.command('release').argument('<device>')).action(async (device: string, o: ClientOptions) => {
    const format = outputFormat(o);
    let r;
    try {
      r = await new Client(o, ctx.env).json('DELETE', `/v1/quarantine/${encodeURIComponent(device)}`);
    } catch (err) {
      refuse(ctx, err);
    }
    printValue(ctx, format, r, () => formatChange(r));
  });
}
