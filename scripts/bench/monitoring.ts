// SPDX-License-Identifier: Apache-2.0
/**
 * Continuous verification for `npm run bench` (issue 6): flow records analysed
 * per second by the anomaly pipeline, memory per tracked device, and detection
 * quality (precision and recall per kind, false-positive rate on clean traffic)
 * on a synthetic replay. The work is benchMonitoring() of
 * apps/controller/src/monitoring/bench-monitoring.ts; this prints its JSON.
 */
import { benchMonitoring } from '../../apps/controller/src/monitoring/bench-monitoring';

process.stdout.write(JSON.stringify(benchMonitoring(), null, 2) + '\n');
