#!/usr/bin/env bash
# GPU time of every kernel in one decode step, by Nsight Compute (docs/BENCHMARKS.md, "Decode
# step, kernel by kernel"): caches are left as the step before left them (--cache-control
# none), and the engine starts the profiler at the first attention of decode step
# STEP (LSERVE_NCU_DECODE_STEP) and stops it when the next step begins, so ncu sees only that
# step's kernels (graph nodes each timed alone; the gaps between them are not in these figures).
# Run on the GPU host from the repository root with the .gpu bundle and $OUT set:
#   bash scripts/ncu_decode.sh [bench options...]   (default: synthetic Llama-3-8B, lserve, 32K)
# Writes $OUT/ncu-decode.csv (ncu's raw rows) and prints a table: kernel, grid, calls, µs per call,
# µs in the step. NCU_ARGS adds ncu options (e.g. "--section WarpStateStats -k regex:attn").
set -eu
: "${OUT:?set OUT to the directory for results}"
args=("$@")
[ ${#args[@]} -eq 0 ] && args=(--model synthetic:llama-3-8b --contexts 32k --modes lserve)
LSERVE_NCU_DECODE_STEP=${STEP:-7} ncu --clock-control none --cache-control none --profile-from-start off --graph-profiling node \
  --metrics gpu__time_duration.sum,sm__cycles_elapsed.avg.per_second ${NCU_ARGS:-} --csv --log-file "$OUT/ncu-decode.csv" \
  .gpu/run.sh ai.lserve.engine.cli.Main bench --device cuda:0 --decode-tokens 8 --out "$OUT/ncu-bench" "${args[@]}" \
  > "$OUT/ncu-decode.stdout" 2> "$OUT/ncu-decode.stderr" || { tail -20 "$OUT/ncu-decode.stderr"; exit 1; }
python3 - "$OUT/ncu-decode.csv" <<'PY'
import csv, sys, collections
rows = [r for r in csv.reader(open(sys.argv[1])) if len(r) > 12]
head, rows = rows[0], rows[1:]
col = {k: head.index(k) for k in ("ID", "Kernel Name", "Grid Size", "Metric Name", "Metric Unit", "Metric Value")}
scale = {"ns": 1e-3, "nsecond": 1e-3, "us": 1.0, "usecond": 1.0, "ms": 1e3, "msecond": 1e3}
per, clocks = collections.defaultdict(list), []
for r in rows:
    value = float(r[col["Metric Value"]].replace(",", ""))
    if r[col["Metric Name"]] == "gpu__time_duration.sum":
        per[(r[col["Kernel Name"]].split("(")[0], r[col["Grid Size"]])].append(value * scale[r[col["Metric Unit"]]])
    elif r[col["Metric Name"]] == "sm__cycles_elapsed.avg.per_second":
        clocks.append(value * {"hz": 1e-9, "khz": 1e-6, "mhz": 1e-3, "ghz": 1.0}[r[col["Metric Unit"]].lower()])
print(f"{'kernel':28s} {'grid':16s} {'calls':>6s} {'us/call':>9s} {'us/step':>9s}")
for (k, g), v in sorted(per.items(), key=lambda kv: -sum(kv[1])):
    print(f"{k:28s} {g:16s} {len(v):6d} {sum(v) / len(v):9.2f} {sum(v):9.1f}")
total = sum(sum(v) for v in per.values())
print(f"{'total (kernels alone)':45s} {sum(len(v) for v in per.values()):6d} {'':9s} {total:9.1f}")
if clocks:
    clocks.sort()
    print(f"SM clock while profiled: median {clocks[len(clocks) // 2]:.2f} GHz, min {clocks[0]:.2f}, max {clocks[-1]:.2f}")
PY
