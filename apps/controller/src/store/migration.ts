/** One schema migration: numbered, applied once, in order, inside one transaction (see migrations.ts). */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}
