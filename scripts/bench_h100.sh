#!/usr/bin/env bash
# The recorded benchmark run on the GPU host (docs/BENCHMARKS.md), in one call, within BUDGET_S:
#   1. peers: scripts/bench_peers.py (transformers, SDPA, cuBLAS, copy) on the llama-3-8b shape;
#   2. lserve bench, synthetic:llama-3-8b, batch 1 at every context, every mode, peers merged;
#   3. batches 4 and 8 at 32K, while time is left;
#   4. llama-2-7b and minitron-4b at 32K-128K, while time is left;
#   5. everything merged into $OUT/h100-DATE.json (the docs/bench/ format, scripts/bench_merge.py).
# STEPS (default "peers main batch extra") picks steps, e.g. STEPS="batch extra" for a second call;
# merge the calls' folders here with: python3 scripts/bench_merge.py --out h100-DATE.json DIR1 DIR2
# Each step runs under a time limit and the bench writes its JSON after every cell, so a step cut
# short keeps what it measured; cells never started are recorded as skipped.
#
# Run from the repository root with the .gpu bundle (../shared/gpu/README.md) and $OUT set:
#   bash scripts/bench_h100.sh
# Then, here (the GPU host's minimal Java has no java.desktop, so plots are drawn here):
#   bin/lserve bench-report --from FILES/h100-DATE.json --out docs/bench/h100-DATE
# Settings (environment): STEPS, BUDGET_S (540), CONTEXTS (8k,16k,32k,64k,128k), MODES
# (dense,lserve,lserve-kv4), DECODE_TOKENS (64), BATCH_CONTEXT (32k), EXTRA_SHAPES
# ("llama-2-7b minitron-4b"), EXTRA_CONTEXTS (32k,64k,128k).
set -u
: "${OUT:?set OUT to the directory for results}"
BUDGET_S=${BUDGET_S:-540}
CONTEXTS=${CONTEXTS:-8k,16k,32k,64k,128k}
MODES=${MODES:-dense,lserve,lserve-kv4}
DECODE_TOKENS=${DECODE_TOKENS:-64}
BATCH_CONTEXT=${BATCH_CONTEXT:-32k}
EXTRA_SHAPES=${EXTRA_SHAPES:-llama-2-7b minitron-4b}
EXTRA_CONTEXTS=${EXTRA_CONTEXTS:-32k,64k,128k}
STEPS=" ${STEPS:-peers main batch extra} "
want() { [[ "$STEPS" == *" $1 "* ]]; }
DATE=$(date -u +%F)
log=$OUT/log.txt
end=$((SECONDS + BUDGET_S))
left() { echo $((end - SECONDS)); }
step() { echo "== $(date -u +%T) [$(left) s left] $*" | tee -a "$log"; }
[ -x .gpu/run.sh ] || { echo "no .gpu/run.sh: carry the bundle (../shared/gpu/bundle.sh)" | tee -a "$log"; exit 2; }
nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used --format=csv,noheader | tee -a "$log"

bench() { # name, hard limit (s), bench args...: runs the bench and stops starting cells 120 s before the limit
  local name=$1 limit=$2; shift 2
  [ "$limit" -lt 60 ] && { step "$name: skipped, ${limit} s left"; return; }
  step "$name: $*"
  timeout "$limit" .gpu/run.sh ai.lserve.engine.cli.Main bench --device cuda:0 --date "$DATE" \
    --decode-tokens "$DECODE_TOKENS" --max-seconds $((limit > 180 ? limit - 120 : limit / 2)) \
    --out "$OUT/$name" "$@" > "$OUT/$name.stdout" 2> "$OUT/$name.stderr"
  echo "rc $?" | tee -a "$log"
  grep -E "^bench|error" "$OUT/$name.stderr" | cut -c1-300 | tee -a "$log"
}

peers=()
if want peers; then
  step "peers: llama-3-8b"
  timeout 170 python3 scripts/bench_peers.py --shape llama-3-8b --contexts "$CONTEXTS" --batch 1,4,8 \
    --batch-contexts "$BATCH_CONTEXT" --decode-tokens "$DECODE_TOKENS" --generate-check 8k \
    --out "$OUT/peers-llama-3-8b.json" > /dev/null 2> "$OUT/peers-llama-3-8b.stderr"
  echo "rc $?" | tee -a "$log"
  tail -12 "$OUT/peers-llama-3-8b.stderr" | cut -c1-300 | tee -a "$log"
  [ -s "$OUT/peers-llama-3-8b.json" ] && peers=(--peers "$OUT/peers-llama-3-8b.json")
fi

# batch 1 first: what the other steps may give up for
want main && bench llama-3-8b $(( $(left) - 90 )) --model synthetic:llama-3-8b --contexts "$CONTEXTS" --modes "$MODES" "${peers[@]}"
want batch && bench llama-3-8b-batch $(( $(left) - 30 )) --model synthetic:llama-3-8b --contexts "$BATCH_CONTEXT" --batch 4,8 \
  --modes "$MODES" "${peers[@]}"
want extra && for shape in $EXTRA_SHAPES; do
  bench "$shape" $(( $(left) - 20 )) --model "synthetic:$shape" --contexts "$EXTRA_CONTEXTS" --modes "$MODES"
done

step "merge into h100-$DATE.json"
python3 scripts/bench_merge.py --out "$OUT/h100-$DATE.json" "$OUT" | tee -a "$log"
step "done"
