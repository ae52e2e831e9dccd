import type { Issue } from '../policy/parse';
import type { Document } from '../policy/schema';

type CheckReferences = (docs: readonly Document[]) => { errors: Issue[]; warnings: Issue[] };

/**
 * policy/references.ts (checkReferences) is being written alongside; until it lands
 * the compiler's own checks are all we have. Replace with a direct import then.
 */
export const checkReferences: CheckReferences = (docs) => {
  let impl: CheckReferences | undefined;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    impl = require('../policy/references').checkReferences;
  } catch {
    impl = undefined;
  }
  return impl ? impl(docs) : { errors: [], warnings: [] };
};
