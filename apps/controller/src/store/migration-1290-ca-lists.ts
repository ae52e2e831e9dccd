import type { Migration } from './migration';

/**
 * One site in the database (issue 14): the enforcer CA's issued and revoked
 * certificate lists, which were DATA_DIR/ca/issued.json and revoked.json, so
 * that every controller of a site knows a certificate issued by another and
 * refuses one revoked by another (control/ca/shared-certificate-lists.ts).
 * Rows are per CA (`ca`: SHA-256 of the CA certificate's DER), so a
 * controller keeping its own CA on a shared database sees only its own.
 * `seq` lets a controller notice rows it has not seen. Numbered 1290 (issue 14,
 * its CA lists) so that migrations other features add meanwhile do not collide.
 */
export const CA_LISTS_MIGRATION: Migration = {
  version: 1290,
  name: 'enforcer CA issued and revoked lists',
  sql: `
create table ca_issued_certs (
  ca        text not null,
  serial    text not null,
  name      text not null,
  kind      text not null check (kind in ('enforcer', 'server')),
  issued_at timestamptz not null,
  not_after timestamptz not null,
  seq       bigserial,
  primary key (ca, serial)
);
create index ca_issued_certs_name on ca_issued_certs (ca, name);
create table ca_revoked_certs (
  ca         text not null,
  serial     text not null,
  name       text not null,
  revoked_at timestamptz not null,
  seq        bigserial,
  primary key (ca, serial)
);
`,
};
