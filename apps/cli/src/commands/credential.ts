import * as fs from 'node:fs';
import type { Command } from 'commander';
import { CREDENTIAL_DEFAULTS, CREDENTIAL_ENV } from '../../../controller/src/credentials/credentials.config';
import { CliContext, CliError, Client, clientOptions, ClientOptions, outputFormat, table } from '../context';
import { emitted, printValue } from '../output/format';

/**
 * `cordon credential issue|rotate|revoke|status|enroll-token DEVICE`, and the
 * device-CA flags of `cordon controller` (--est, --kek-file, --pkcs11-*,
 * --psk-file, --credential-lifetime, --credential-overlap), which reach the
 * controller as the CORDON_* variables of credentials.config.ts.
 */
export function register(program: Command, ctx: CliContext): void {
  addControllerFlags(program);

  const c = program.command('credential').description('device certificates and pre-shared keys: issue, rotate, revoke, status');

  type IssueOpts = ClientOptions & { psk?: boolean; csr?: string; keyOut?: string; certOut?: string; overlap?: string };
  const issueLike = (name: 'issue' | 'rotate') => {
    const cmd = clientOptions(
      c
        .command(name)
        .argument('<device>')
        .description(
          name === 'issue'
            ? 'issue a certificate (from --csr FILE, or with a key made here and shown once) or, with --psk, a pre-shared key'
            : 'issue a new certificate or PSK; the old ones keep working for --overlap, then are revoked',
        )
        .option('--psk', 'a pre-shared key instead of a certificate')
        .option('--csr <file>', 'PKCS#10 request (PEM): the private key stays with the device')
        .option('--key-out <file>', 'write a generated private key here (mode 0600) instead of printing it')
        .option('--cert-out <file>', 'write the certificate here'),
    );
    if (name === 'rotate') cmd.option('--overlap <duration>', 'how long old and new both work (default: the controller\'s --credential-overlap)');
    cmd.action(async (device: string, o: IssueOpts) => {
      const format = outputFormat(o);
      const body: Record<string, unknown> = { kind: o.psk ? 'psk' : 'certificate' };
      if (o.csr) {
        if (o.psk) throw new CliError('--csr is for certificates, not --psk', 2);
        body.csr = readFile(o.csr);
      }
      if (o.overlap) body.overlap = o.overlap;
      const path = `/v1/devices/${encodeURIComponent(device)}/credentials${name === 'rotate' ? '/rotate' : ''}`;
      const r = await new Client(o, ctx.env).json('POST', path, body);
      if (o.keyOut && r.privateKey) {
        fs.writeFileSync(o.keyOut, r.privateKey, { mode: 0o600 });
        r.privateKey = `(written to ${o.keyOut})`;
      }
      if (o.certOut && r.certificate) fs.writeFileSync(o.certOut, r.certificate);
      if (emitted(ctx, format, r)) return;
      const lines = [`${name === 'rotate' ? 'rotated' : 'issued'} ${r.kind} ${r.id} for ${r.device}${r.notAfter ? `, valid until ${r.notAfter}` : ''}`];
      if (r.retiring) lines.push(`the previous ${r.retiring.ids.length} keep working until ${r.retiring.at}`);
      if (r.psk) lines.push(`identity: ${r.identity}`, `psk:      ${r.psk}   (shown once; written to ${r.pskFile})`);
      if (r.certificate && !o.certOut) lines.push(r.certificate.trimEnd());
      if (r.privateKey) lines.push(o.keyOut ? `private key ${r.privateKey}` : `${r.privateKey.trimEnd()}\n(the private key is shown once)`);
      ctx.out(lines.join('\n') + '\n');
    });
  };
  issueLike('issue');
  issueLike('rotate');

  clientOptions(
    c
      .command('revoke')
      .argument('<device>')
      .description('revoke at once: every credential of the device, or only its PSKs (--psk), certificates (--certificate) or one (--id)')
      .option('--psk', 'only pre-shared keys')
      .option('--certificate', 'only certificates')
      .option('--id <serial-or-identity>', 'only this certificate serial or PSK identity')
      .option('--reason <reason>', 'unspecified, keyCompromise, superseded or cessationOfOperation'),
  ).action(async (device: string, o: ClientOptions & { psk?: boolean; certificate?: boolean; id?: string; reason?: string }) => {
    const format = outputFormat(o);
    if (o.psk && o.certificate) throw new CliError('give --psk or --certificate, not both', 2);
    const r = await new Client(o, ctx.env).json('POST', `/v1/devices/${encodeURIComponent(device)}/credentials/revoke`, {
      kind: o.psk ? 'psk' : o.certificate ? 'certificate' : undefined,
      id: o.id,
      reason: o.reason,
    });
    printValue(ctx, format, r, () => `revoked ${r.revoked.length} credential(s) of ${r.device}${r.revoked.length ? ': ' + r.revoked.join(', ') : ''}\n`);
  });

  clientOptions(c.command('status').argument('<device>').description('the credentials of a device and their state (no secrets)')).action(async (device: string, o: ClientOptions) => {
    const format = outputFormat(o);
    const r = await new Client(o, ctx.env).json('GET', `/v1/devices/${encodeURIComponent(device)}/credentials`);
    if (emitted(ctx, format, r)) return;
    ctx.out(`${r.device}: ${r.status}\n`);
    ctx.out(table(['KIND', 'ID', 'STATUS', 'NOT AFTER', 'RETIRES', 'REVOKED'], r.items.map((i: any) => [i.kind, i.id, i.status, i.notAfter ?? '-', i.retireAt ?? '-', i.revokedAt ? `${i.revokedAt} (${i.revokeReason})` : '-'])));
  });

  clientOptions(
    c
      .command('enroll-token')
      .argument('<device>')
      .description('a one-time password for EST simpleenroll (HTTP Basic, user = the device name)')
      .option('--ttl <duration>', 'how long it can be used', '1h'),
  ).action(async (device: string, o: ClientOptions & { ttl: string }) => {
    const format = outputFormat(o);
    const r = await new Client(o, ctx.env).json('POST', `/v1/devices/${encodeURIComponent(device)}/enrollment-tokens`, { ttl: o.ttl });
    printValue(ctx, format, r, () => `user: ${r.username}\ntoken: ${r.token}   (one-time, until ${r.expiresAt})\nEST: ${r.est ?? '(EST is off)'}\n`);
  });
}

const FLAGS: Array<[flag: string, env: string, help: string]> = [
  ['--est <host:port|off>', CREDENTIAL_ENV.est, `EST (RFC 7030) HTTPS address for device enrollment (default ${CREDENTIAL_DEFAULTS.est}; needs a device CA key store)`],
  ['--kek-file <file>', CREDENTIAL_ENV.kekFile, 'key-encryption key (32 bytes, kept apart from --data-dir) sealing the device CA key file'],
  ['--pkcs11-module <lib>', CREDENTIAL_ENV.pkcs11Module, 'PKCS#11 library holding the device CA key (e.g. /usr/lib/softhsm/libsofthsm2.so)'],
  ['--pkcs11-token <label>', CREDENTIAL_ENV.pkcs11Token, 'label of the PKCS#11 token'],
  ['--pkcs11-pin-file <file>', CREDENTIAL_ENV.pkcs11PinFile, 'file holding the token user PIN (or env CORDON_PKCS11_PIN)'],
  ['--psk-file <file>', CREDENTIAL_ENV.pskFile, 'device PSKs, Mosquitto psk_file format identity:hexkey (default DATA_DIR/psk_file)'],
  ['--credential-lifetime <duration>', CREDENTIAL_ENV.lifetime, `device certificate lifetime (default ${CREDENTIAL_DEFAULTS.lifetime}; label cordon.dev/credential-lifetime on a Device or Segment overrides)`],
  ['--credential-overlap <duration>', CREDENTIAL_ENV.overlap, `how long a rotated credential keeps working (default ${CREDENTIAL_DEFAULTS.overlap})`],
];

/** Adds the device-CA flags to `cordon controller` and hands them over before it starts. */
function addControllerFlags(program: Command): void {
  const controller = program.commands.find((x) => x.name() === 'controller');
  if (!controller) return;
  for (const [flag, , help] of FLAGS) controller.option(flag, help);
  controller.hook('preAction', (cmd) => {
    const o = cmd.opts<Record<string, string | undefined>>();
    for (const [flag, env] of FLAGS) {
      const key = flag.slice(2, flag.indexOf(' ')).replace(/-([a-z0-9])/g, (_, ch: string) => ch.toUpperCase());
      if (o[key] !== undefined) process.env[env] = o[key];
    }
  });
}

function readFile(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new CliError(`cannot read ${file}: ${(err as Error).message}`, 2);
  }
}
