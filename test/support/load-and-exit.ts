// SPDX-License-Identifier: Apache-2.0
/**
 * Loads a datapath, applies a generation, attaches it and exits: proves that
 * enforcement outlives the process that set it up.
 * Usage: tsx load-and-exit.ts '<json: {name, netns, interfaces, generation}>'
 */
import { Datapath, Generation } from '../../native/lib/datapath';

async function main() {
  const { name, netns, interfaces, generation } = JSON.parse(process.argv[2]) as {
    name: string;
    netns: string;
    interfaces: string[];
    generation: Generation;
  };
  const dp = await Datapath.open({ name });
  await dp.applyGeneration(generation);
  for (const ifname of interfaces) {
    await dp.attach(ifname, 'ingress', { netns });
    await dp.attach(ifname, 'egress', { netns });
  }
  dp.close();
  process.stdout.write(JSON.stringify({ attached: interfaces }) + '\n');
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).message}\n`);
  process.exit(1);
});
