#!/usr/bin/env bash
# Accuracy of lserve vs dense on the bundled lserve-needle-7m (docs/ACCURACY.md), for the GPU host:
# dense vs lserve defaults at every trained length (RULER-style passkey, multikey, kv, and NIAH),
# lserve with smaller prefill windows of the streaming heads (WINDOWS, --prefill-local) at every length,
# then one setting at a time at 16K (budget, streaming fraction, reuse interval, KV bits, selection).
# Each run writes $OUT/<name>.json (and its heat map); a summary table is printed last.
#
#   OUT=/tmp/out scripts/accuracy_sweep.sh                       # GPU host, Java bundle in .gpu/
#   LSERVE=bin/lserve DEVICE=cpu LENGTHS=512 SWEEP_LENGTH=512 SAMPLES=1 NIAH_SAMPLES=1 \
#     SWEEP_SAMPLES=1 OUT=/tmp/sweep scripts/accuracy_sweep.sh    # plumbing check on a CPU (3 min)
#
# Runs go in order of importance, one JVM per mode and group of lengths so that a slow or failing
# long length costs only its own run; each run is cut at PER_RUN seconds (a cut run writes no JSON) and, once
# TIME_BUDGET seconds are spent, the rest are skipped and listed. Seed 1 as in docs/ACCURACY.md (the
# shipped head pattern was calibrated on seed 7). The default point of the sweeps is the lserve
# run's SWEEP_LENGTH cells (same seed; with SWEEP_SAMPLES = SAMPLES the same cases).
# Not yet run on the CUDA backend for this model (hidden 512, 4 query / 2 KV heads, head_dim 128).
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:?set OUT to the directory for the JSON files}
LSERVE=${LSERVE:-.gpu/run.sh ai.lserve.engine.cli.Main}
DEVICE=${DEVICE:-cuda:0}
MODEL=${MODEL:-examples/models/lserve-needle-7m}
LENGTHS=${LENGTHS:-2k,4k,8k 16k 32k} # one run per mode and space-separated group
SWEEP_LENGTH=${SWEEP_LENGTH:-16k}
SAMPLES=${SAMPLES:-8}             # RULER-style cases per (task, length)
NIAH_SAMPLES=${NIAH_SAMPLES:-2}   # NIAH cases per (length, depth), 5 depths
SWEEP_SAMPLES=${SWEEP_SAMPLES:-8} # cases per task in each sweep run
WINDOWS=${WINDOWS:-4096 1024}   # prefill windows (--prefill-local) run at every length
SEED=${SEED:-1}
TIME_BUDGET=${TIME_BUDGET:-530}
PER_RUN=${PER_RUN:-150}
mkdir -p "$OUT"
log=$OUT/sweep.log
start=$(date +%s)

run() { # name, eval kind, args...
  local name=$1 kind=$2; shift 2
  local left=$((TIME_BUDGET - ($(date +%s) - start)))
  if [ "$left" -lt 15 ]; then
    echo "== $name: skipped (time budget spent)" | tee -a "$log"
    echo "$name" >> "$OUT/skipped.txt"
    return
  fi
  [ "$left" -gt "$PER_RUN" ] && left=$PER_RUN
  echo "== $name (cut at $left s): eval $kind $*" | tee -a "$log"
  local t0=$(date +%s)
  timeout "$left" $LSERVE eval "$kind" --model "$MODEL" --device "$DEVICE" --seed "$SEED" \
    --out-dir "$OUT" --name "$name" "$@" > "$OUT/$name.out" 2> "$OUT/$name.err"
  local rc=$?
  echo "   rc $rc, $(( $(date +%s) - t0 )) s; $(tail -n 1 "$OUT/$name.err" | cut -c1-300)" | tee -a "$log"
}

R="--tasks passkey,multikey,kv"
for G in $LENGTHS; do
  run "ruler-dense-${G//,/_}" ruler $R --lengths "$G" --samples "$SAMPLES" --mode dense
  run "ruler-lserve-${G//,/_}" ruler $R --lengths "$G" --samples "$SAMPLES" --mode lserve
done
ALL=$(echo $LENGTHS | tr ' ' ',')
run niah-dense niah --lengths "$ALL" --depths 0,25,50,75,100 --samples "$NIAH_SAMPLES" --mode dense
run niah-lserve niah --lengths "$ALL" --depths 0,25,50,75,100 --samples "$NIAH_SAMPLES" --mode lserve
for w in $WINDOWS; do
  for G in $LENGTHS; do
    run "window-$w-${G//,/_}" ruler $R --lengths "$G" --samples "$SAMPLES" --mode lserve --prefill-local "$w"
  done
done
S="$R --lengths $SWEEP_LENGTH --samples $SWEEP_SAMPLES --mode lserve"
for b in 512 1024 2048; do run "sweep-budget-$b" ruler $S --budget "$b"; done
for f in 0.25 0.75; do run "sweep-fraction-$f" ruler $S --streaming-fraction "$f"; done
for r in 1 16; do run "sweep-reuse-$r" ruler $S --reuse-interval "$r"; done
for k in 4 16; do run "sweep-kvbits-$k" ruler $S --kv-bits "$k"; done
run sweep-selection-query-head ruler $S --selection query-head

echo "total $(( $(date +%s) - start )) s" | tee -a "$log"
python3 - "$OUT" "$SWEEP_LENGTH" "$ALL" "$WINDOWS" <<'EOF'
import json, os, sys
out, sweep_len, all_lengths, windows = sys.argv[1], sys.argv[2], sys.argv[3].split(","), sys.argv[4].split()
def tokens(s):
    s = s.strip().lower()
    return int(s[:-1]) * 1024 if s.endswith("k") else int(s)
def load(name):
    p = os.path.join(out, name + ".json")
    return json.load(open(p)) if os.path.exists(p) else None
def by_length(o):  # length -> [correct, total] over the run's cells
    acc = {}
    for c in o["cells"]:
        a = acc.setdefault(c["length"], [0, 0])
        a[0] += c["correct"]; a[1] += c["total"]
    return acc
def cell(a):
    return f"{a[0]}/{a[1]}" if a else "-"
print("\n## dense vs lserve defaults (correct / cases; 'not run': cut, failed or skipped, see sweep.log)")
print("| run | " + " | ".join(all_lengths) + " | device | seconds |")
print("|---" * (len(all_lengths) + 3) + "|")
def runs_of(kind):  # the JSON of a kind's runs (one per group of lengths)
    names = [n[:-5] for n in os.listdir(out) if n.endswith(".json") and (n[:-5] == kind or n.startswith(kind + "-"))]
    return [load(n) for n in sorted(names)]
for kind in ["ruler-dense", "ruler-lserve"] + [f"window-{w}" for w in windows] + ["niah-dense", "niah-lserve"]:
    os_ = runs_of(kind)
    merged = {}
    for o in os_: merged.update(by_length(o))
    row = [cell(merged[tokens(l)]) if tokens(l) in merged else "not run" for l in all_lengths]
    device = os_[0]["device"] if os_ else ""
    print(f"| {kind} | " + " | ".join(row) + f" | {device} | {round(sum(o['seconds'] for o in os_), 1)} |")
L = tokens(sweep_len)
print(f"\n## lserve at {sweep_len}, one setting changed (passkey + multikey + kv; per task then total)")
print("| run | passkey | multikey | kv | total | seconds |")
print("|---|---|---|---|---|---|")
names = [n[:-5] for n in os.listdir(out) if n.startswith("ruler-lserve") and n.endswith(".json")]
started = [l.split()[1].rstrip(":") for l in open(os.path.join(out, "sweep.log")) if l.startswith("== ")]
names += [n for n in dict.fromkeys(started) if n.startswith("sweep-")]  # in the order they ran
for n in names:
    o = load(n)
    if o is None:
        print(f"| {n} | not run | | | | |"); continue
    cells = {c["task"]: c for c in o["cells"] if c["length"] == L}
    if not cells: continue
    t = [sum(c["correct"] for c in cells.values()), sum(c["total"] for c in cells.values())]
    row = [f"{cells[k]['correct']}/{cells[k]['total']} ({cells[k]['samples']})" if k in cells else "-" for k in ("passkey", "multikey", "kv")]
    label = f"defaults ({n})" if n.startswith("ruler-") else n
    print(f"| {label} | " + " | ".join(row) + f" | {cell(t)} | {o['seconds']} |")
sk = os.path.join(out, "skipped.txt")
if os.path.exists(sk):
    print("\nskipped for time: " + ", ".join(open(sk).read().split()))
EOF
