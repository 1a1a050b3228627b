#!/usr/bin/env python3
"""Prefill attention kernel (attn_prefill_b*_d* + attn_merge of lserve.fatbin) on the device.

Builds the paged KV cache as the engine lays it out (kernels/src/kv_layout.cuh: codes
[page][head][slot][channel], fp16 (scale, zero) per vector, page tables, streaming rings), one
sequence whose last `chunk` rows are prefilled, 32 query heads / 8 KV heads / d 128. Checks
against a float32 torch reference (each row sees the cached keys before it under its head's mask,
plus its own key and value, unquantized) and times our kernels against torch SDPA (flash backend on
the same chunk shape, lower-right causal; cuDNN and flash on a square causal prefill) with CUDA
events, medians. The work item order, tile size and split count mirror CudaAttention.java.
--compare LABEL=FATBIN (repeatable) checks and times other builds of the kernel too, side by side
in the same run (e.g. the kernel before a change); the bf16 / int8 / int4 table then has a row per
build. On compute capability 9.0 a build runs the wgmma kernel (attn_prefill_wg_*) as the engine
does; FATBIN@mma runs that build's mma.sync kernel (attn_prefill_b*_d*) instead.

--checks-only stops after the correctness checks (a build that faults takes the process down).

usage: prefill_attn_bench.py FATBIN [--compare LABEL=FATBIN ...] [--quick] [--checks-only]
"""
import math
import sys

import cupy as cp
import numpy as np
import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.nn.attention.bias import causal_lower_right

PAGE = 64
HEADS, KV_HEADS, D = 32, 8, 128
SINK, PREFILL_LOCAL = 128, 4096  # SparseConfig defaults: sink 128, prefill-local 4096
dev = torch.device("cuda")
SMS = torch.cuda.get_device_properties(0).multi_processor_count


def smem_bytes(bits, d):
    lds = d + 8
    tile = 64 * lds * 2
    raw = 2 * tile if bits == 16 else 2 * (64 * d * bits // 8) + 2 * 64 * 4
    return (4 if bits == 16 else 3) * raw + (0 if bits == 16 else 4 * tile) + 128 * lds * 2


def ptr(t):
    """A torch tensor as a cupy array over the same memory (kernel arguments are raw pointers)."""
    return cp.asarray(t.view(torch.uint8).reshape(-1)) if t.dtype != torch.int32 else cp.asarray(t)


class Case:
    """One layer's cache and chunk: dense heads [0, KV_HEADS - streaming), streaming heads after."""

    def __init__(self, tokens, chunk, bits, streaming, gen):
        self.tokens, self.chunk, self.bits, self.streaming = tokens, chunk, bits, streaming
        self.start = tokens - chunk
        pages = (tokens + PAGE - 1) // PAGE
        self.n_ret, self.n_str = KV_HEADS - streaming, streaming
        slots = [i for i in range(self.n_ret)] + [-1 - i for i in range(self.n_str)]
        self.head_slot = torch.tensor(slots, dtype=torch.int32, device=dev)
        self.head_order = torch.arange(KV_HEADS, dtype=torch.int32, device=dev)  # dense first
        window_pages = (PREFILL_LOCAL + chunk) // PAGE + 2
        self.sink_pages = SINK // PAGE
        self.ring_len = min(pages, self.sink_pages + window_pages)
        # Physical pages: a random permutation, so that indexing through the tables is exercised.
        self.table = torch.randperm(pages, generator=gen, device=dev).to(torch.int32)
        self.ring = torch.randperm(self.ring_len, generator=gen, device=dev).to(torch.int32)
        self.pools = [self.pool(pages, self.n_ret, gen), self.pool(self.ring_len, self.n_str, gen)]
        self.slice_info = torch.tensor([self.start, chunk, 0, 0, 0, 0, self.ring_len], dtype=torch.int32, device=dev)
        self.q = torch.randn(chunk, HEADS, D, generator=gen, device=dev).bfloat16()
        self.k = torch.randn(chunk, KV_HEADS, D, generator=gen, device=dev).bfloat16()
        self.v = torch.randn(chunk, KV_HEADS, D, generator=gen, device=dev).bfloat16()

    def pool(self, pages, heads, gen):
        n = max(1, pages * heads * PAGE)
        if self.bits == 16:
            keys = torch.randn(n, D, generator=gen, device=dev).bfloat16()
            values = torch.randn(n, D, generator=gen, device=dev).bfloat16()
            kp = vp = torch.zeros(2, dtype=torch.float16, device=dev)
        else:
            width = D * self.bits // 8
            keys = torch.randint(0, 256, (n, width), generator=gen, device=dev, dtype=torch.uint8)
            values = torch.randint(0, 256, (n, width), generator=gen, device=dev, dtype=torch.uint8)
            top = 2.0 ** self.bits - 1
            def params():
                scale = (2.0 + torch.rand(n, generator=gen, device=dev)) / top
                zero = -1.5 + torch.rand(n, generator=gen, device=dev)
                return torch.stack([scale, zero], 1).to(dev, torch.float16)
            kp, vp = params(), params()
        return {"heads": heads, "keys": keys, "values": values, "kp": kp, "vp": vp}

    def dequant(self, codes, params):
        if self.bits == 16:
            return codes.float()
        if self.bits == 8:
            c = codes.float()
        else:
            c = torch.stack([(codes & 0xF), (codes >> 4)], -1).reshape(codes.shape[0], D).float()
        return c * params[:, :1].float() + params[:, 1:].float()

    def cached(self, kv_head):
        """Keys and values at positions [0, tokens) of a KV head as the kernel finds them, float32."""
        pos = torch.arange(self.tokens, device=dev)
        logical = pos // PAGE
        dense = kv_head < self.n_ret
        if dense:
            page, pool, ph = self.table[logical].long(), self.pools[0], kv_head
        else:
            lp = torch.where(logical < self.sink_pages, logical,
                             self.sink_pages + (logical - self.sink_pages) % (self.ring_len - self.sink_pages))
            page, pool, ph = self.ring[lp].long(), self.pools[1], kv_head - self.n_ret
        vec = (page * pool["heads"] + ph) * PAGE + pos % PAGE
        return (self.dequant(pool["keys"][vec], pool["kp"][vec] if self.bits != 16 else None),
                self.dequant(pool["values"][vec], pool["vp"][vec] if self.bits != 16 else None), dense)

    def reference(self, heads):
        """float32 outputs [chunk, len(heads), D] of the given query heads."""
        out = []
        qpos = torch.arange(self.start, self.tokens, device=dev)[:, None]
        kpos = torch.arange(self.tokens, device=dev)[None, :]
        scale = 1 / math.sqrt(D)
        group = HEADS // KV_HEADS
        for h in heads:
            kvh = h // group
            kc, vc, dense = self.cached(kvh)
            visible = kpos < qpos
            if not dense:
                visible &= (kpos < SINK) | (qpos - kpos < PREFILL_LOCAL)
            q = self.q[:, h].float()
            s = (q @ kc.T) * scale
            s = s.masked_fill(~visible, float("-inf"))
            own = (q * self.k[:, kvh].float()).sum(-1, keepdim=True) * scale
            s = torch.cat([s, own], 1)
            p = torch.softmax(s, 1)
            out.append(p[:, :-1] @ vc + p[:, -1:] * self.v[:, kvh].float())
        return torch.stack(out, 1)


def smem_bytes_wg():
    """attn_prefill_wg_*: 4 stages of (K, V) pages (2 x 16 KiB), the 128 query rows, barriers, alignment."""
    return 4 * 32768 + 128 * (D + 8) * 2 + 16 * 4 + 1024


class Kernel:
    """One build's prefill kernel: the wgmma one (attn_prefill_wg_*) on compute capability 9.0, as
    CudaAttention chooses, unless the fatbin is given as PATH@mma (the mma.sync kernel)."""

    def __init__(self, fatbin):
        path, _, kind = fatbin.partition("@")
        self.mod = cp.RawModule(path=path)
        self.merge = self.mod.get_function("attn_merge")
        self.wg = kind != "mma" and torch.cuda.get_device_capability(0) == (9, 0) and D == 128

    def plan(self, case, kv_splits=None):
        """Tiles (longest first), split count and grid as CudaAttention.java chooses them."""
        group = HEADS // KV_HEADS
        hpc = group & -group
        t = 128 // hpc
        tiles = [(0, i, min(t, case.chunk - i)) for i in range(0, case.chunk, t)]
        tiles.sort(key=lambda x: -(case.start + x[1] + x[2]))
        units = len(tiles) * KV_HEADS * (group // hpc)
        max_pages = max((case.start + x[1] + x[2] - 1 + PAGE - 1) // PAGE for x in tiles)
        if kv_splits is None:
            kv_splits = max(1, min(-(-3 * SMS // (2 * units)), max_pages // 16))
        return {"tiles": torch.tensor(tiles, dtype=torch.int32, device=dev).reshape(-1), "ntiles": len(tiles),
                "hpc_log2": hpc.bit_length() - 1, "kv_splits": kv_splits, "grid": units * kv_splits}

    def launcher(self, case, plan, part_o, part_ml, out, merge=True):
        """A function that launches the kernel (and attn_merge) with arguments converted once."""
        f = self.mod.get_function(f"attn_prefill_wg_b{case.bits}_d{D}" if self.wg else f"attn_prefill_b{case.bits}_d{D}")
        smem = smem_bytes_wg() if self.wg else smem_bytes(case.bits, D)
        threads = 384 if self.wg else 256
        f.max_dynamic_shared_size_bytes = smem
        r, s = case.pools
        i32, f32 = np.int32, np.float32
        scale = f32(1 / math.sqrt(D))
        splits = plan["kv_splits"]
        args = (ptr(part_o), ptr(part_ml), ptr(case.q), i32(HEADS), i32(KV_HEADS), i32(splits),
                i32(plan["kv_splits"]), ptr(plan["tiles"]), i32(plan["ntiles"]), i32(plan["hpc_log2"]),
                ptr(case.head_order), i32(case.n_ret), ptr(case.slice_info), ptr(case.table), ptr(case.ring),
                i32(case.sink_pages), ptr(case.head_slot), ptr(r["keys"]), ptr(r["values"]), ptr(r["kp"]),
                ptr(r["vp"]), i32(r["heads"]), ptr(s["keys"]), ptr(s["values"]), ptr(s["kp"]), ptr(s["vp"]),
                i32(s["heads"]), i32(SINK), i32(PREFILL_LOCAL - 1), scale)
        margs = (ptr(out), ptr(part_o), ptr(part_ml), ptr(case.q), ptr(case.k), ptr(case.v), i32(HEADS),
                 i32(KV_HEADS), i32(D), i32(splits), scale)
        # The wgmma kernel merges in place (writes out) when there is one split, as the engine runs it.
        fused = self.wg and splits == 1
        if self.wg:
            args += (ptr(out) if fused else np.uint64(0), ptr(case.k), ptr(case.v))
        grid = (plan["grid"],)
        def go():
            f(grid, (threads,), args, shared_mem=smem)
            if merge and not fused:
                self.merge((case.chunk, HEADS), (32,), margs)
        return go

    def attend(self, case, plan):
        splits = plan["kv_splits"]
        part_o = torch.full((case.chunk * HEADS * splits * D,), float("nan"), device=dev)
        part_ml = torch.full((case.chunk * HEADS * splits * 2,), float("nan"), device=dev)
        out = torch.full((case.chunk, HEADS, D), float("nan"), device=dev, dtype=torch.bfloat16)
        return part_o, part_ml, out


def median_ms(fn, reps=30, warm=3):
    for _ in range(warm):
        fn()
    times = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b))
    return float(np.median(times)), float(np.min(times)), float(np.max(times))


def flops(case):
    """4 d heads sum over rows of the keys each row sees (its own included), dense heads."""
    n = case.chunk
    return 4.0 * D * HEADS * (n * case.start + n * (n + 1) / 2)


def sdpa_chunk(case, backend):
    q = case.q.transpose(0, 1)[None].contiguous()
    k = torch.randn(1, HEADS, case.tokens, D, device=dev, dtype=torch.bfloat16)
    v = torch.randn_like(k)
    mask = causal_lower_right(case.chunk, case.tokens)
    def fn():
        with sdpa_kernel(backend):
            F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    return fn


def sdpa_square(tokens, backend):
    q = torch.randn(1, HEADS, tokens, D, device=dev, dtype=torch.bfloat16)
    k, v = torch.randn_like(q), torch.randn_like(q)
    def fn():
        with sdpa_kernel(backend):
            F.scaled_dot_product_attention(q, k, v, is_causal=True)
    return fn


def parse_args(argv):
    """(main fatbin, [(label, fatbin)] to compare, quick, checks only)."""
    args, compare, quick, checks_only = [], [], False, False
    it = iter(argv)
    for a in it:
        if a == "--quick":
            quick = True
        elif a == "--checks-only":
            checks_only = True
        elif a == "--compare":
            spec = next(it, None)
            if spec is None or "=" not in spec:
                sys.exit(f"--compare wants LABEL=FATBIN, got {spec!r}")
            label, path = spec.split("=", 1)
            compare.append((label, path))
        else:
            args.append(a)
    if len(args) != 1:
        sys.exit(__doc__)
    return args[0], compare, quick, checks_only


# Correctness cases (tokens, chunk, bits, streaming KV heads, forced splits, sink, prefill-local): small
# and odd shapes (rows not a multiple of the tile, sink/window edges inside pages, a short ring),
# chunks of 1, 16, 512 and 2048 rows, every format, 0, 4 or 8 of 8 KV heads streaming; a one-token
# prompt (no key before its row).
CHECKS = [(1000, 300, 16, 4, None, 100, 200), (700, 77, 8, 4, 3, 100, 200), (700, 77, 4, 4, None, 100, 200),
          (4096, 512, 16, 0, None, 128, 8192), (4096, 512, 8, 4, None, 128, 8192),
          (4096, 512, 4, 4, 2, 128, 8192), (5000, 1000, 16, 8, 5, 70, 1000), (65, 65, 16, 0, None, 128, 8192),
          (300, 1, 16, 4, 2, 100, 200), (300, 1, 8, 8, None, 100, 200), (300, 1, 4, 0, 2, 100, 200),
          (2000, 16, 8, 4, None, 100, 200), (2000, 16, 4, 8, 3, 70, 1000), (1100, 16, 16, 0, None, 128, 8192),
          (5000, 1000, 8, 8, 5, 70, 1000), (5000, 512, 4, 8, None, 100, 700),
          (10000, 2048, 16, 4, None, 128, 2000), (10000, 2048, 8, 0, None, 128, 8192),
          (10000, 2048, 8, 8, None, 70, 1000), (10000, 2048, 4, 4, None, 128, 8192),
          (1, 1, 16, 0, None, 128, 8192), (1, 1, 8, 4, None, 128, 8192)]


def check(kern, gen):
    """Runs CHECKS; returns (failed, worst rel L2)."""
    global SINK, PREFILL_LOCAL
    worst, failed = 0.0, 0
    for tokens, chunk, bits, streaming, splits, sink, local in CHECKS:
        SINK, PREFILL_LOCAL = sink, local
        case = Case(tokens, chunk, bits, streaming, gen)
        plan = kern.plan(case, splits)
        part_o, part_ml, out = kern.attend(case, plan)
        kern.launcher(case, plan, part_o, part_ml, out)()
        torch.cuda.synchronize()
        ref = case.reference(list(range(HEADS)))
        got = out.float()
        nan = torch.isnan(got).any().item()
        err = ((got - ref).norm() / ref.norm()).item()
        worst = max(worst, err) if not nan else float("nan")
        ok = not nan and err < 1e-2
        failed += not ok
        print(f"check tokens {tokens} chunk {chunk} bits {bits} streaming kv heads {streaming} splits "
              f"{plan['kv_splits']} sink {sink} local {local}: rel L2 {err:.2e}{'' if ok else ' FAIL'}"
              + (" (NaN or unwritten outputs)" if nan else ""))
        if not ok:  # per KV head, to localize a failure
            for kvh in range(KV_HEADS):
                hs = slice(kvh * 4, kvh * 4 + 4)
                print(f"  kv head {kvh}: rel L2 {((got[:, hs] - ref[:, hs]).norm() / ref[:, hs].norm()).item():.2e}")
        del case, ref, got, part_o, part_ml, out
    SINK, PREFILL_LOCAL = 128, 8192
    return failed, worst


def main():
    fatbin, compare, quick, checks_only = parse_args(sys.argv[1:])
    gen = torch.Generator(device=dev).manual_seed(7)
    kern = Kernel(fatbin)
    builds = [("this", kern)] + [(label, Kernel(path)) for label, path in compare]
    print(f"device {torch.cuda.get_device_name(0)}, {SMS} SMs, torch {torch.__version__}, cupy {cp.__version__}")

    summary, total_failed = [], 0
    for label, k in builds:
        failed, worst = check(k, gen)
        total_failed += failed
        summary.append(f"checks ({label}): {len(CHECKS) - failed} of {len(CHECKS)} passed, worst rel L2 {worst:.2e}")
        print(summary[-1], flush=True)
    if checks_only:
        sys.exit(1 if total_failed else 0)

    rows = []
    def add(name, case_flops, ms):
        if callable(ms):  # a peer: report a failure and go on
            try:
                ms = median_ms(ms, reps=10)
            except Exception as e:  # noqa: BLE001
                print(f"{name}: failed: {e}")
                return
        rows.append((name, ms[0], case_flops / ms[0] / 1e9 if case_flops else float("nan")))
        print(f"{name}: median {ms[0]:.3f} ms (min {ms[1]:.3f} max {ms[2]:.3f})"
              + (f", {case_flops / ms[0] / 1e9:.0f} TFLOP/s" if case_flops else ""), flush=True)

    # Formats side by side: each build on the same inputs, timed twice (forward then reverse order),
    # so that clock drift within the run shows as the spread of a build's two medians.
    configs = [(32768, 512), (32768, 2048), (32768, 4096)] if not quick else [(32768, 2048)]
    fmt = {}  # (tokens, chunk, label, bits) -> [median ms]
    for tokens, chunk in configs:
        for bits in (16, 8, 4):
            case = Case(tokens, chunk, bits, 0, gen)
            plan = kern.plan(case)
            bufs = kern.attend(case, plan)
            launch = [(label, k.launcher(case, plan, *bufs)) for label, k in builds]
            for order in (launch, launch[::-1]):
                for label, go in order:
                    ms = median_ms(go)
                    fmt.setdefault((tokens, chunk, label, bits), []).append(ms[0])
                    add(f"{label} b{bits} {tokens}/{chunk} splits {plan['kv_splits']}", flops(case), ms)
            if bits == 16:
                add(f"this b16 {tokens}/{chunk} kernel only", flops(case),
                    median_ms(kern.launcher(case, plan, *bufs, merge=False)))
                if chunk == 512 and not quick:
                    for s in (1, 2, 4, 6, 8):
                        p2 = kern.plan(case, s)
                        b2 = kern.attend(case, p2)
                        add(f"this b16 {tokens}/{chunk} splits {s}", flops(case), median_ms(kern.launcher(case, p2, *b2)))
                add(f"SDPA flash {tokens}/{chunk} (lower-right causal)", flops(case),
                    sdpa_chunk(case, SDPBackend.FLASH_ATTENTION))
            del case, bufs, launch
    if not quick:
        sq = 32768
        sq_flops = 4.0 * D * HEADS * sq * (sq + 1) / 2
        add(f"SDPA flash square causal {sq}", sq_flops, sdpa_square(sq, SDPBackend.FLASH_ATTENTION))
        add(f"SDPA cuDNN square causal {sq}", sq_flops, sdpa_square(sq, SDPBackend.CUDNN_ATTENTION))

        # Streaming heads: dense-only vs half the KV heads streaming, chunk 512 and 4096.
        for tokens in (32768, 131072):
            for chunk in (512, 4096):
                for streaming in (0, 4):
                    case = Case(tokens, chunk, 16, streaming, gen)
                    plan = kern.plan(case)
                    bufs = kern.attend(case, plan)
                    add(f"this b16 {tokens}/{chunk} streaming kv heads {streaming}/8",
                        flops(case) if streaming == 0 else 0, median_ms(kern.launcher(case, plan, *bufs)))
                    del case, bufs

    print()
    for line in summary:
        print(line)
    print("| run | median ms | TFLOP/s |")
    print("|---|---|---|")
    for name, ms, tf in rows:
        print(f"| {name} | {ms:.3f} | {tf:.0f} |")
    print("\n| context / rows | build | bf16 ms | int8 ms | int4 ms | int8 / bf16 | int4 / bf16 |")
    print("|---|---|---|---|---|---|---|")
    for tokens, chunk in configs:
        for label, _ in builds:
            t = {b: fmt[(tokens, chunk, label, b)] for b in (16, 8, 4)}
            lo = {b: min(v) for b, v in t.items()}
            span = {b: "/".join(f"{x:.3f}" for x in v) for b, v in t.items()}
            print(f"| {tokens} / {chunk} | {label} | {span[16]} | {span[8]} | {span[4]} | "
                  f"{lo[8] / lo[16]:.3f} | {lo[4] / lo[16]:.3f} |")


if __name__ == "__main__":
    main()
