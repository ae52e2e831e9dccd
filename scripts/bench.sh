#!/usr/bin/env bash
# npm run bench: every figure as a ratio to a baseline measured in the same run.
#  1. the datapath's in-kernel cost per packet at 10..100,000 entries (BPF_PROG_TEST_RUN)
#  2. the controller's compile time at site scale and for a one-policy delta
#  3. the namespace gateway through ../shared/bench/netbench: no filter,
#     iptables, nftables and Cordon with the same rule count (BENCH_GATEWAY_COMPARES
#     runs, 1); then no filter, nft-set and Cordon in turn, the order rotated every
#     round (BENCH_GATEWAY_ROUNDS, 4), the goals judged on the medians
#     (scripts/bench/gateway-alternate.ts, gateway-summary.ts)
#  4. the extras in scripts/bench/ (control latency, flow throughput, enforcer
#     memory, device credentials: certs/s, revoke to CRL, CRL at 100,000, a denied
#     flood: drops per CPU-second on the old tc path and with the XDP short-cut,
#     fqdn: answer-to-allowed latency, answers learned/s, cost at 10,000 learned names,
#     controllers: 3 on one PostgreSQL serving 3,000 simulated enforcers, apply to all, take-over)
# Results: bench-results/*.json; a summary on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
RULES=${BENCH_RULES:-10000}
DURATION=${BENCH_DURATION:-5}
COMPARES=${BENCH_GATEWAY_COMPARES:-1}
ROUNDS=${BENCH_GATEWAY_ROUNDS:-4}
out=bench-results
mkdir -p "$out"
if [ "$(id -u)" != 0 ]; then echo "bench: run as root (it loads eBPF programs and makes namespaces)" >&2; exit 1; fi
[ -f native/build/Release/cordon_native.node ] || bash scripts/setup.sh

echo "== datapath: in-kernel cost per packet (BPF_PROG_TEST_RUN), ratios to 10 entries"
npx tsx scripts/bench/datapath-cost.ts > "$out/datapath-cost.json"
node -e '
const r = require("./'"$out"'/datapath-cost.json");
console.log("entries   established ns  echo ns  decision ns  denied-repeat ns  new-conn ns  apply ms | ratios est/echo/dec/rep/new");
r.sizes.forEach((s, i) => { const q = r.ratiosTo10Entries[i];
  console.log(String(s.entries).padEnd(9), String(s.establishedNs).padStart(14), String(s.establishedEchoNs).padStart(8), String(s.decisionNs).padStart(12),
    String(s.deniedRepeatNs).padStart(17), String(s.newConnNs).padStart(12), String(s.applyMs).padStart(9), "|", q.established, q.establishedEcho, q.decision, q.deniedRepeat, q.newConn); });
console.log("new connections: a new source at every repeat,", r.newConnections.runs, "runs of", r.newConnections.repeat, "(driver", r.newConnections.driverNs, "ns, taken off)");
console.log("reference program (parse, one hash lookup, one counter), measured after each size; ratios to it (ref ns: est/echo/dec/rep/new/new with the flow table full):");
r.ratiosToReference.forEach((q) => console.log("  " + String(q.entries).padEnd(9), q.referenceNs + ":", q.established, q.establishedEcho, q.decision, q.deniedRepeat, q.newConn, q.newConnFullTable));
console.log("payload classification, established flow with payload: on", r.classification.onNs, "ns, off", r.classification.offNs, "ns, ratio", r.classification.ratioOnToOff);'

echo "== controller: compile at site scale (1,000 segments, 10,000 devices, 10,000 policies), REST apply, memory"
npx tsx scripts/bench/controller.ts | tee "$out/controller.json"

for extra in control-latency controllers flow-throughput enforcer-memory monitoring credentials flood fqdn; do
  if [ -f "scripts/bench/$extra.ts" ]; then
    echo "== $extra"
    npx tsx "scripts/bench/$extra.ts" | tee "$out/$extra.json"
  fi
done

echo "== monitoring state write cost: the write-behind flushes at their worst case (every row changed each interval), PostgreSQL and PGlite"
CORDON_WRITE_COST=1 npx jest --runInBand test/monitoring/state-shared.api.test.ts test/monitoring/observed-shared.api.test.ts test/monitoring/baselines-shared.api.test.ts -t 'write cost' 2>&1 \
  | grep -E '^\{|write cost' | tee "$out/monitoring-writes.txt" || echo "bench: the write-cost runs failed (see above)" >&2

NETBENCH=../shared/bench/netbench
if [ -x "$NETBENCH" ] || [ -f "$NETBENCH" ]; then
  echo "== gateway: netbench compare --rules $RULES, $COMPARES run(s) (about 2.5 minutes each)"
  tsx="$(pwd)/node_modules/.bin/tsx"
  filter="$(pwd)/scripts/bench/netbench-filter.ts"
  bash "$NETBENCH" deps
  compares=()
  for run in $(seq 1 "$COMPARES"); do
    bash "$NETBENCH" compare --rules "$RULES" --duration "$DURATION" --label cordon --json \
      --custom-up "$tsx $filter up $RULES" --custom-down "$tsx $filter down" > "$out/netbench-$run.json" || {
        echo "bench: netbench reported a failed metric or an error (see $out/netbench-$run.json)" >&2; }
    compares+=("$out/netbench-$run.json")
  done
  npx tsx scripts/bench/gateway-summary.ts "${compares[@]}" > "$out/gateway.json" || echo "bench: no gateway summary (see above)" >&2
  # compare measures nft-set always just before Cordon: the goals are judged with the order rotated
  echo "== gateway: no filter, nft-set and Cordon in turn, the order rotated, $ROUNDS rounds (about 75 s each)"
  npx tsx scripts/bench/gateway-alternate.ts "$ROUNDS" "$RULES" "$DURATION" > "$out/gateway-alternate.json" \
    || echo "bench: the alternated gateway rounds failed (see above)" >&2
else
  echo "== gateway: ../shared/bench/netbench is not here (a user's clone): skipped"
fi
echo "results in $out/"
