#!/usr/bin/env python3
"""Checks and times the prefill GEMM kernels of lserve.fatbin against torch on the GPU.

Y[M,N] = X[M,K] . W[N,K]^T in bf16 (fp32 accumulation). Every variant is checked first on random
inputs (never zeros) against a float32 torch product of the same bf16 inputs (relative L2 < 1e-2,
output poisoned with NaN beforehand so an element left unwritten fails), on ragged edge shapes and
on each timed shape (the wgmma kernels' _glu epilogue, silu(X W^T) * (X W2^T), on the edge shapes
too); then each is timed against torch.matmul in bf16 in the same run: CUDA events
around batches of launches that rotate over several input sets (so repeated runs do not just read
L2), warm-up first, median of the batches; and gate + up with the _glu epilogue against the two
products and the engine's silu_mul_bf16. The wgmma kernels take tensor maps (cuTensorMapEncodeTiled
through ctypes, as TensorMaps.java encodes them) and are launched through the driver.

Usage (repository root, GPU host): python3 kernels/bench/gemm_bench.py --fatbin DIR/lserve.fatbin
"""
import argparse
import ctypes
import json
import math
import statistics
import sys

import cupy
import numpy
import torch

# name -> (tile rows, tile columns, dynamic shared memory bytes, threads, persistent)
# Shared memory: wgmma kernels (gemm_sm90.cuh) stages x (BM + BN) x 128 bytes, 16 bytes of
# mbarriers a stage and 1024 bytes of alignment slack; mma.sync kernels (gemm.cuh) stages x
# (128 + BN) rows x 80 bytes.
VARIANTS = {
    "gemm_bf16_wgmma_128x256": (128, 256, 4 * 384 * 128 + 4 * 16 + 1024, 384, True),
    "gemm_bf16_wgmma_64x256": (64, 256, 5 * 320 * 128 + 5 * 16 + 1024, 384, True),
    "gemm_bf16_tc_wide": (128, 256, 4 * 384 * 40 * 2, 256, False),
    "gemm_bf16_tc": (128, 128, 3 * 256 * 40 * 2, 256, False),
}


def engine_choice(m, n, sms):
    """The wgmma kernel CudaBackend.gemmKernel picks for an m x n output on compute capability 9.0."""
    waves = lambda rows: -(-(-(-m // rows) * -(-n // 256)) // sms)
    return "gemm_bf16_wgmma_64x256" if 13 * waves(64) < 20 * waves(128) else "gemm_bf16_wgmma_128x256"


# N x K of Llama-3-8B's projections: fused QKV, O, fused gate+up, gate or up, down, and K or V
# alone (the engine launches q, k and v separately).
SHAPES_NK = [(6144, 4096), (4096, 4096), (28672, 4096), (14336, 4096), (4096, 14336), (1024, 4096)]
EDGE_SHAPES = [(1, 8, 64), (7, 136, 128), (129, 264, 192), (300, 4104, 4160), (511, 1000, 64), (1100, 4000, 320)]


class Gemm:
    def __init__(self, fatbin, sms):
        self.module = cupy.RawModule(path=fatbin)
        self.sms = sms
        self.functions = {}
        self.maps = {}
        self.driver = ctypes.CDLL("libcuda.so.1")

    def function(self, name, epilogue=""):
        entry = name + epilogue
        if entry not in self.functions:
            f = self.module.get_function(entry)
            f.max_dynamic_shared_size_bytes = VARIANTS[name][2]
            self.functions[entry] = f
        return self.functions[entry]

    def tensor_map(self, t, box_rows):
        """A CUtensorMap (128 bytes) of the bf16 matrix t: boxes of 64 columns x box_rows rows, 128-byte swizzle."""
        key = (t.data_ptr(), tuple(t.shape), box_rows)
        if key not in self.maps:
            rows, cols = t.shape
            out = (ctypes.c_uint64 * 16)()
            r = self.driver.cuTensorMapEncodeTiled(
                ctypes.byref(out), 9, 2, ctypes.c_void_p(t.data_ptr()), (ctypes.c_uint64 * 2)(cols, rows),
                (ctypes.c_uint64 * 1)(cols * 2), (ctypes.c_uint32 * 2)(64, box_rows), (ctypes.c_uint32 * 2)(1, 1),
                0, 3, 3, 0)  # bf16, no interleave, 128-byte swizzle, L2 promotion 256 B, zero fill
            if r != 0:
                raise RuntimeError(f"cuTensorMapEncodeTiled: CUresult {r}")
            self.maps[key] = out
        return self.maps[key]

    def launch_wgmma(self, name, y, x, w, epilogue, w2, grid, smem):
        """A wgmma kernel: its operands as tensor maps passed by value, launched through the driver."""
        bm, bn = VARIANTS[name][:2]
        m, k = x.shape
        n = w.shape[0]
        wrows = 64 if epilogue == "_glu" else bn
        args = [ctypes.c_uint64(y.data_ptr()), self.tensor_map(x, bm), self.tensor_map(w, wrows),
                self.tensor_map(w if w2 is None else w2, wrows), ctypes.c_int(m), ctypes.c_int(n), ctypes.c_int(k)]
        params = (ctypes.c_void_p * len(args))(*[ctypes.cast(ctypes.byref(a), ctypes.c_void_p) for a in args])
        r = self.driver.cuLaunchKernel(ctypes.c_void_p(self.function(name, epilogue).kernel.ptr), grid[0], 1, 1, 384, 1, 1,
                                       smem, ctypes.c_void_p(torch.cuda.current_stream().cuda_stream), params, None)
        if r != 0:
            raise RuntimeError(f"cuLaunchKernel {name}{epilogue}: CUresult {r}")

    def elementwise(self, name, out, *ins):
        """The engine's element-wise kernel `name` (elementwise.cuh) over out's elements."""
        if name not in self.functions:
            self.functions[name] = self.module.get_function(name)
        n = out.numel()
        self.functions[name]((max(1, min(4096, -(-n // 256))),), (256,),  # as Launcher.blocks
                             (*[numpy.uint64(t.data_ptr()) for t in (out, *ins)], numpy.int64(n)))

    def launch(self, name, y, x, w, epilogue="", w2=None):
        """y = x w^T; epilogue "_glu": y = silu(x w^T) * (x w2^T) (wgmma kernels only)."""
        bm, bn, smem, threads, persistent = VARIANTS[name]
        m, k = x.shape
        n = w.shape[0]
        tiles_m, tiles_n = -(-m // bm), -(-n // (bn // 2 if epilogue == "_glu" else bn))
        grid = (min(tiles_m * tiles_n, self.sms),) if persistent else (tiles_n, tiles_m)
        if persistent:
            return self.launch_wgmma(name, y, x, w, epilogue, w2, grid, smem)
        self.function(name)(grid, (threads,), (numpy.uint64(y.data_ptr()), numpy.uint64(x.data_ptr()),
                                               numpy.uint64(w.data_ptr()), numpy.int32(m), numpy.int32(n),
                                               numpy.int32(k)), shared_mem=smem)


def rel_l2(out, ref):
    return (torch.linalg.vector_norm(out.float() - ref) / torch.linalg.vector_norm(ref)).item()


def check(gemm, name, m, n, k, gen):
    x = torch.randn(m, k, device="cuda", generator=gen).to(torch.bfloat16)
    w = (torch.randn(n, k, device="cuda", generator=gen) * 0.05).to(torch.bfloat16)
    ref = x.float() @ w.float().T
    y = torch.full((m, n), float("nan"), device="cuda", dtype=torch.bfloat16)
    gemm.launch(name, y, x, w)
    torch.cuda.synchronize()
    unwritten = int((~torch.isfinite(y)).sum().item())
    e = rel_l2(y, ref) if unwritten == 0 else float("nan")
    return e, unwritten


def check_glu(gemm, name, m, n, k, gen):
    """Relative L2 of the _glu kernel against float32 torch (NaN = an element left unwritten)."""
    x = torch.randn(m, k, device="cuda", generator=gen).to(torch.bfloat16)
    w = (torch.randn(n, k, device="cuda", generator=gen) * 0.05).to(torch.bfloat16)
    w2 = (torch.randn(n, k, device="cuda", generator=gen) * 0.05).to(torch.bfloat16)
    y = torch.full((m, n), float("nan"), device="cuda", dtype=torch.bfloat16)
    gemm.launch(name, y, x, w, "_glu", w2)
    torch.cuda.synchronize()
    ref = torch.nn.functional.silu(x.float() @ w.float().T) * (x.float() @ w2.float().T)
    return rel_l2(y, ref) if bool(torch.isfinite(y).all()) else float("nan")


def time_batches(fn, sets, batches=5, per_batch=None, budget_ms=25.0):
    """Median milliseconds of one call: warm-up, then `batches` event-timed batches."""
    for i in range(3):
        fn(*sets[i % len(sets)])
    torch.cuda.synchronize()
    if per_batch is None:  # about budget_ms per batch
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        for i in range(len(sets)):
            fn(*sets[i])
        e.record()
        e.synchronize()
        one = max(s.elapsed_time(e) / len(sets), 1e-3)
        per_batch = max(len(sets), min(200, int(budget_ms / one)))
    times = []
    for _ in range(batches):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        for i in range(per_batch):
            fn(*sets[i % len(sets)])
        e.record()
        e.synchronize()
        times.append(s.elapsed_time(e) / per_batch)
    return statistics.median(times), min(times), max(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fatbin", required=True, help="path of the built lserve.fatbin")
    ap.add_argument("--m", default="512,2048,8192", help="rows of X to time, comma-separated")
    ap.add_argument("--variants", default=",".join(VARIANTS), help="kernels to check and time")
    ap.add_argument("--json", help="write every measurement to this file")
    args = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cuda.matmul.allow_bf16_reduced_precision_reduction = False
    props = torch.cuda.get_device_properties(0)
    print(f"device: {props.name}, {props.multi_processor_count} SMs, torch {torch.__version__}, "
          f"cupy {cupy.__version__}", flush=True)
    stream = cupy.cuda.ExternalStream(torch.cuda.current_stream().cuda_stream)
    stream.use()
    gemm = Gemm(args.fatbin, props.multi_processor_count)
    variants = [v for v in args.variants.split(",") if v]
    for v in variants:
        if v not in VARIANTS:
            sys.exit(f"--variants: unknown kernel {v}; known: {', '.join(VARIANTS)}")
    gen = torch.Generator(device="cuda").manual_seed(1)
    failures = []

    print("\n== correctness on edge shapes (relative L2 vs float32 torch; unwritten = NaN left) ==", flush=True)
    for (m, n, k) in EDGE_SHAPES:
        for v in variants:
            if k % 64 and "wgmma" in v:
                continue
            e, unwritten = check(gemm, v, m, n, k, gen)
            ok = unwritten == 0 and e < 1e-2
            print(f"{v:28s} {m:5d} x {n:5d} x {k:5d}: rel L2 {e:.2e} unwritten {unwritten} {'ok' if ok else 'FAIL'}",
                  flush=True)
            if not ok:
                failures.append((v, m, n, k, e, unwritten))

    wgmma = [v for v in variants if "wgmma" in v]
    print("\n== the _glu epilogue (silu(x w^T) * (x w2^T)) on edge shapes ==", flush=True)
    for (m, n, k) in EDGE_SHAPES:
        for v in wgmma:
            if k % 64:
                continue
            e = check_glu(gemm, v, m, n, k, gen)
            ok = e < 1e-2
            print(f"{v + '_glu':28s} {m:5d} x {n:5d} x {k:5d}: rel L2 {e:.2e} {'ok' if ok else 'FAIL'}", flush=True)
            if not ok:
                failures.append((v + "_glu", m, n, k, e))

    rows, records = [], []
    for m in [int(s) for s in args.m.split(",")]:
        for (n, k) in SHAPES_NK:
            flop = 2.0 * m * n * k
            set_bytes = 2 * (m * k + n * k + m * n)
            nsets = max(2, min(8, math.ceil(150e6 / set_bytes)))
            sets = []
            for _ in range(nsets):
                x = torch.randn(m, k, device="cuda", generator=gen).to(torch.bfloat16)
                w = (torch.randn(n, k, device="cuda", generator=gen) * 0.05).to(torch.bfloat16)
                sets.append((torch.empty(m, n, device="cuda", dtype=torch.bfloat16), x, w))
            ref = sets[0][1].float() @ sets[0][2].float().T
            t_torch = time_batches(lambda y, x, w: torch.matmul(x, w.T, out=y), sets)
            e_torch = rel_l2(torch.matmul(sets[0][1], sets[0][2].T), ref)
            row = {"m": m, "n": n, "k": k, "torch_ms": t_torch[0], "torch_tflops": flop / t_torch[0] / 1e9,
                   "torch_err": e_torch}
            for v in variants:
                if k % 64 and "wgmma" in v:
                    continue
                y0 = sets[0][0]
                y0.fill_(float("nan"))
                gemm.launch(v, y0, sets[0][1], sets[0][2])
                torch.cuda.synchronize()
                unwritten = int((~torch.isfinite(y0)).sum().item())
                e = rel_l2(y0, ref) if unwritten == 0 else float("nan")
                ok = unwritten == 0 and e < 1e-2
                if not ok:
                    failures.append((v, m, n, k, e, unwritten))
                t = time_batches(lambda y, x, w, v=v: gemm.launch(v, y, x, w), sets)
                row[v] = {"ms": t[0], "min_ms": t[1], "max_ms": t[2], "tflops": flop / t[0] / 1e9, "err": e,
                          "ok": ok}
            del ref, sets
            torch.cuda.empty_cache()
            row["engine"] = engine_choice(m, n, props.multi_processor_count)
            records.append(row)
            best = max((v for v in variants if v in row), key=lambda v: row[v]["tflops"])
            line = (f"M={m:5d} N={n:5d} K={k:5d}  torch {row['torch_tflops']:5.0f} TF/s ({row['torch_ms']:.3f} ms)  "
                    + "  ".join(f"{v.replace('gemm_bf16_', '')} {row[v]['tflops']:4.0f}{'' if row[v]['ok'] else '!'}"
                                for v in variants if v in row)
                    + f"  | best {best.replace('gemm_bf16_', '')} {row[best]['tflops'] / row['torch_tflops']:.0%}")
            print(line, flush=True)
            rows.append(line)

    print("\n== gate and up with the _glu epilogue vs the two products and silu_mul_bf16 (ms, median) ==", flush=True)
    epilogues = []
    inter, hidden = 14336, 4096
    for m in [int(s) for s in args.m.split(",")]:
        v = engine_choice(m, 2 * inter, props.multi_processor_count)
        x = torch.randn(m, hidden, device="cuda", generator=gen).to(torch.bfloat16)
        wg, wu = [(torch.randn(inter, hidden, device="cuda", generator=gen) * 0.05).to(torch.bfloat16) for _ in range(2)]
        g = torch.empty(m, inter, device="cuda", dtype=torch.bfloat16)
        u = torch.empty_like(g)
        glu = time_batches(lambda: gemm.launch(v, g, x, wg, "_glu", wu), [()])[0]
        unfused = time_batches(lambda: (gemm.launch(v, g, x, wg), gemm.launch(v, u, x, wu),
                                        gemm.elementwise("silu_mul_bf16", g, g, u)), [()])[0]
        print(f"M={m:5d} N={inter} (x2) K={hidden}  {v.replace('gemm_bf16_', '')}_glu {glu:.3f} ms vs unfused "
              f"{unfused:.3f} ({unfused / glu:.2f}x)", flush=True)
        epilogues.append({"m": m, "n": inter, "k": hidden, "kernel": v + "_glu", "glu_ms": glu,
                          "unfused_ms": unfused})
        del x, wg, wu, g, u
        torch.cuda.empty_cache()

    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": props.name, "records": records, "epilogues": epilogues, "failures": failures}, f,
                      indent=1)
    print("\n== summary: TFLOP/s (median), ratio to torch.matmul bf16 in the same run; ! = failed check;"
          " engine = the wgmma kernel CudaBackend picks on an H100/H200 ==")
    short = [v.replace("gemm_bf16_", "") for v in variants]
    print(f"{'M':>5} {'N':>5} {'K':>5} {'torch':>6} " + " ".join(f"{s:>18}" for s in short) + f" {'engine':>14}")
    for r in records:
        cells = []
        for v in variants:
            if v not in r:
                cells.append(f"{'-':>18}")
                continue
            c = f"{r[v]['tflops']:.0f} {r[v]['tflops'] / r['torch_tflops']:.0%}{'' if r[v]['ok'] else '!'}"
            cells.append(f"{c:>18}")
        e = r["engine"]
        chosen = f"{r[e]['tflops']:.0f} {r[e]['tflops'] / r['torch_tflops']:.0%}" if e in r else "-"
        print(f"{r['m']:5d} {r['n']:5d} {r['k']:5d} {r['torch_tflops']:6.0f} " + " ".join(cells) + f" {chosen:>14}")
    print(f"\nchecks failed: {len(failures)}" + ("" if not failures else f" {failures}"))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
