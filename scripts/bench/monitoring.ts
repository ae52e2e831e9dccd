// SPDX-License-Identifier: Apache-2.0
/**
 * Continuous verification for `npm run bench` (issues 6 and 18): detection
 * quality on a realistic, seeded replay (recall and delay per kind of
 * misbehaviour, precision, false positives per device-day on clean traffic),
 * memory per tracked device, flow records analysed per second on one core.
 * The work is benchMonitoring() of apps/controller/src/monitoring/bench-monitoring.ts;
 * the quality table goes to stderr (the terminal), the JSON to stdout
 * (bench-results/monitoring.json).
 */
import { benchMonitoring, formatMonitoringBench } from '../../apps/controller/src/monitoring/bench-monitoring';

const b = benchMonitoring();
process.stderr.write(formatMonitoringBench(b) + '\n');
process.stdout.write(JSON.stringify(b, null, 2) + '\n');
