// SPDX-License-Identifier: Apache-2.0
/**
 * Device credentials for `npm run bench` (issue 7): certificates issued per
 * second (CA key in a KEK-sealed file and in a SoftHSM2 token), revoke to CRL
 * served (target < 1 s), and a CRL of 100,000 revoked devices (size, build,
 * rebuild after one more). The work is benchCredentials() of
 * apps/controller/src/credentials/bench-credentials.ts; this prints its JSON,
 * one document on stdout, so bench.sh can keep it in bench-results/.
 * BENCH_CRED_SECONDS sets the issuing window (default 2 s per key kind).
 */
import 'reflect-metadata';
import { benchCredentials } from '../../apps/controller/src/credentials/bench-credentials';

const seconds = Number(process.env.BENCH_CRED_SECONDS ?? 2);

benchCredentials({ seconds: Number.isFinite(seconds) && seconds > 0 ? seconds : 2 })
  .then((r) => process.stdout.write(JSON.stringify(r, null, 2) + '\n'))
  .catch((err) => {
    process.stderr.write(`bench credentials: ${(err as Error).stack ?? err}\n`);
    process.exit(1);
  });
