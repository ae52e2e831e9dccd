import { SetMetadata } from '@nestjs/common';
import type { Role } from '../store/types';

export const ROLE_RANK: Record<Role, number> = { viewer: 1, operator: 2, admin: 3 };
export const MIN_ROLE = 'cordon:minRole';
export const PUBLIC = 'cordon:public';

/** The least role a route needs. Without it: viewer for GET, operator otherwise. */
export const MinRole = (role: Role) => SetMetadata(MIN_ROLE, role);
/** No token needed (health, metrics, the OpenAPI description). */
export const Public = () => SetMetadata(PUBLIC, true);

/** Who made a request, for authorization and the audit log. */
export interface Actor {
  name: string;
  role: Role;
  tokenId: number;
  source: string | null;
}
