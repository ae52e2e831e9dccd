// SPDX-License-Identifier: Apache-2.0
/** An enforcer's name from a REST path, checked (the control channel's rule, proto ENFORCER_NAME); 400 otherwise. */
import { ENFORCER_NAME } from '../../../../proto/cordon/v1/control';
import { badRequest } from './problem';

export function enforcerNameOr400(name: string): string {
  if (!ENFORCER_NAME.test(name)) throw badRequest(`"${name}" is not an enforcer name ([a-z0-9-], at most 63)`);
  return name;
}
