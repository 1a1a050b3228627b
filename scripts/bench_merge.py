#!/usr/bin/env python3
"""Merges the output folders of scripts/bench_h100.sh (one or more calls) into one record in the
docs/bench/h100-DATE.json format: the llama-3-8b bench report on top, its batch cells appended to
its results, the other shapes under "other_models".

Usage: python3 scripts/bench_merge.py --out h100-DATE.json DIR [DIR ...]
"""
import argparse
import json
import os
import sys

MAIN, BATCH = "llama-3-8b", "llama-3-8b-batch"


def load(dirs, name):
    """The last DIR/name/bench.json among dirs (a later call overrides an earlier one)."""
    found = [os.path.join(d, name, "bench.json") for d in dirs if os.path.exists(os.path.join(d, name, "bench.json"))]
    return json.load(open(found[-1])) if found else None


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True)
    p.add_argument("--script-command", default="bash scripts/bench_h100.sh")
    p.add_argument("dirs", nargs="+")
    a = p.parse_args()
    top = load(a.dirs, MAIN)
    if top is None:
        sys.exit(f"no {MAIN}/bench.json in {a.dirs}: nothing to merge")
    commands = [a.script_command, top["command"]]
    batch = load(a.dirs, BATCH)
    if batch:
        top["results"] += batch["results"]
        commands.append(batch["command"])
        top.setdefault("peers", batch.get("peers"))
    if top.get("peers"):
        commands.append("python3 " + top["peers"].get("command", "scripts/bench_peers.py"))
    top["command"] = "; ".join(commands)
    top.setdefault("kernels", [])
    others = []
    for d in a.dirs:
        for name in sorted(os.listdir(d)):
            if name not in (MAIN, BATCH) and os.path.exists(os.path.join(d, name, "bench.json")):
                r = json.load(open(os.path.join(d, name, "bench.json")))
                others = [o for o in others if o["model"] != r["model"]] + [
                    {k: r[k] for k in ("model", "command", "settings", "results")}]
    if others:
        top["other_models"] = others
    with open(a.out, "w") as f:
        json.dump(top, f, indent=1)
    ok = sum(1 for r in top["results"] if "error" not in r)
    print(f"wrote {a.out}: {ok} of {len(top['results'])} cells measured, peers: {bool(top.get('peers'))},"
          f" other models: {[o['model'] for o in others]}")


if __name__ == "__main__":
    main()
