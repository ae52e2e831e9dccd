import type { Migration } from './migration';

/**
 * Device credentials (apps/controller/src/credentials): certificates and PSKs the
 * device CA issued, one row each, and one-time EST enrollment tokens. Secrets are
 * not stored: a certificate row keeps the certificate (public), a PSK row keeps a
 * fingerprint; the PSK itself lives only in the --psk-file the checking service reads.
 */
export const CREDENTIALS_MIGRATION: Migration = {
  version: 7,
  name: 'device credentials',
  sql: `
create table device_credentials (
  id            text primary key,         -- certificate serial (hex) or PSK identity
  device        text not null,
  kind          text not null check (kind in ('certificate', 'psk')),
  fingerprint   text not null,            -- sha256 of the certificate DER or of the PSK
  issued_at     timestamptz not null default now(),
  not_after     timestamptz,              -- certificate expiry (PSKs: null)
  retire_at     timestamptz,              -- end of a rotation's overlap: revoked (superseded) then
  revoked_at    timestamptz,
  revoke_reason text,
  certificate   text,                     -- PEM, certificates only
  actor         text
);
create index device_credentials_device on device_credentials (device);
create index device_credentials_revoked on device_credentials (revoked_at) where revoked_at is not null;
create index device_credentials_retire on device_credentials (retire_at) where retire_at is not null and revoked_at is null;

create table device_enrollment_tokens (
  hash       text primary key,
  device     text not null,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null,
  used_at    timestamptz
);
`,
};
