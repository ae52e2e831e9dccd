// SPDX-License-Identifier: Apache-2.0
/** The query string of GET /v1/flows and /v1/flows/stream as a FlowQuery, or a 400 naming the bad parameter. */
import { badRequest } from '../http/problem';
import { fromQuery, FlowQueryError, type FlowParams, type FlowQuery } from './flows/flow-query';

export function flowQueryOf(params: Record<string, string | string[]> | undefined): FlowQuery {
  // A parameter given twice (`from=a&from=b`) means either, as `from=a,b` does.
  const flat = Object.fromEntries(Object.entries(params ?? {}).map(([k, v]) => [k, Array.isArray(v) ? v.join(',') : String(v)])) as FlowParams;
  try {
    return fromQuery(flat);
  } catch (err) {
    if (err instanceof FlowQueryError) throw badRequest(err.message);
    throw err;
  }
}
