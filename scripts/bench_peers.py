#!/usr/bin/env python3
"""Peer measurements for `lserve bench`, run on the GPU host in the same run as our numbers.

Measures, on random bf16 weights of a named Llama shape (nothing is downloaded):
  * Hugging Face transformers LlamaForCausalLM (SDPA attention): prefill latency per context and
    batch, and decode ms/token (a real generate loop over a KV cache; median over the steps, the
    first excluded);
  * torch SDPA attention alone: causal prefill over one layer's heads with the flash and cuDNN
    backends, and single-token decode over a KV cache of the context's length;
  * torch.matmul (cuBLAS) on the model's GEMM shapes (M = 8192 tokens, and M = batch for decode);
  * a device-to-device copy (the bandwidth ceiling).
Kernels are timed with CUDA events after warm-up (medians); inputs that fit in L2 are rotated.
Transformers figures are wall times with a device synchronize, as a user of the library sees them.

Writes JSON: {"device", "date", "shape", "layers", "torch", "transformers_version", "copy_tbps",
"transformers": [{"context", "batch", "prefill_ms", "decode_ms_per_token", "peak_device_bytes"}],
"sdpa": [...], "matmul": [...]}; a cell that cannot run carries "error" instead of its figures.

Usage (on the GPU host; batches above 1 only at 32K here):
  python3 scripts/bench_peers.py --shape llama-3-8b --contexts 8k,32k,128k --batch 1,4,8 \
      --batch-contexts 32k --decode-tokens 64 --out peers.json
"""
import argparse
import datetime
import json
import math
import statistics
import sys
import time

import torch

# The config.json of each shape, as `lserve synth` writes it (SyntheticShape.java).
LLAMA3_ROPE = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
               "original_max_position_embeddings": 8192}
SHAPES = {
    "llama-3-8b": dict(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
                       num_key_value_heads=8, head_dim=128, vocab_size=128256, rope_theta=500000.0,
                       rope_scaling=LLAMA3_ROPE, bos_token_id=128000, eos_token_id=128001),
    "llama-2-7b": dict(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32,
                       num_key_value_heads=32, head_dim=128, vocab_size=32000, rope_theta=10000.0,
                       bos_token_id=1, eos_token_id=2),
    "minitron-4b": dict(hidden_size=3072, intermediate_size=9216, num_hidden_layers=32, num_attention_heads=32,
                        num_key_value_heads=8, head_dim=128, vocab_size=128256, rope_theta=500000.0,
                        rope_scaling=LLAMA3_ROPE, bos_token_id=128000, eos_token_id=128001),
}
GEMM_M = 8192
GEMM_NK = [(6144, 4096), (4096, 4096), (14336, 4096), (28672, 4096), (4096, 14336)]
L2_ROTATE_BYTES = 128 << 20  # inputs smaller than this are cycled through enough copies to miss L2
DEVICE_BYTES = None  # set in main


def parse_count(s):
    t = s.strip().lower()
    try:
        return int(float(t[:-1]) * 1024) if t.endswith("k") else int(t)
    except ValueError:
        raise SystemExit(f"--contexts/--batch: '{s}' is not a count (use N or Nk, e.g. 8k = 8192)")


def median_ms(fn, warmup=2, repeat=10):
    """Median of `repeat` CUDA-event timings of fn(i), after `warmup` calls."""
    for i in range(warmup):
        fn(i)
    torch.cuda.synchronize()
    times = []
    for i in range(repeat):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn(i)
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b))
    return statistics.median(times)


def copies_for(nbytes):
    return max(1, math.ceil(L2_ROTATE_BYTES / max(1, nbytes)))


def copy_bandwidth():
    x = torch.randint(0, 255, (1 << 30,), dtype=torch.uint8, device="cuda")
    y = torch.empty_like(x)
    ms = median_ms(lambda i: y.copy_(x), 3, 10)
    del x, y
    return 2 * (1 << 30) / ms / 1e9  # read + write, TB/s


def matmuls(batches):
    out = []
    for m in [GEMM_M] + sorted(set(batches)):
        for n, k in GEMM_NK:
            w = torch.randn(n, k, device="cuda", dtype=torch.bfloat16)
            ws = [w] + [torch.randn_like(w) for _ in range(copies_for(w.numel() * 2) - 1)]
            a = torch.randn(m, k, device="cuda", dtype=torch.bfloat16)
            ms = median_ms(lambda i: a @ ws[i % len(ws)].t(), 3, 20)
            flops = 2 * m * n * k
            e = {"name": "matmul", "shape": f"{m}x{n}x{k}", "m": m, "n": n, "k": k, "ms": ms,
                 "tflops": flops / ms / 1e9, "weight_tbps": n * k * 2 / ms / 1e9}
            e["tflops_or_gbps"] = e["tflops"] if m >= 256 else e["weight_tbps"] * 1000
            e["unit"] = "TFLOP/s" if m >= 256 else "GB/s"
            out.append(e)
            del w, ws, a
    torch.cuda.empty_cache()
    return out


def sdpa(cfg, cells):
    import torch.nn.functional as F
    from torch.nn.attention import SDPBackend, sdpa_kernel
    heads, kv, hd = cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["head_dim"]
    out = []
    for ctx in sorted({c for c, _ in cells}):
        q = torch.randn(1, heads, ctx, hd, device="cuda", dtype=torch.bfloat16)
        k = torch.randn(1, kv, ctx, hd, device="cuda", dtype=torch.bfloat16)
        v = torch.randn_like(k)
        flops = 4 * heads * hd * ctx * ctx / 2  # causal: half of QK^T and PV
        reps = 3 if ctx >= 65536 else 10
        for name, backend in (("flash", SDPBackend.FLASH_ATTENTION), ("cudnn", SDPBackend.CUDNN_ATTENTION)):
            e = {"kind": "prefill", "backend": name, "context": ctx, "batch": 1, "heads": heads, "kv_heads": kv,
                 "head_dim": hd}
            try:
                with sdpa_kernel(backend):
                    ms = median_ms(lambda i: F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True),
                                   1, reps)
                e.update(ms=ms, tflops=flops / ms / 1e9)
            except RuntimeError as err:
                e["error"] = str(err).splitlines()[0][:300]
            out.append(e)
        del q, k, v
        torch.cuda.empty_cache()
        for b in [b for c, b in cells if c == ctx]:
            e = {"kind": "decode", "backend": "default", "context": ctx, "batch": b, "heads": heads, "kv_heads": kv,
                 "head_dim": hd}
            kv_bytes = 2 * b * kv * ctx * hd * 2
            if kv_bytes * 1.2 > DEVICE_BYTES * 0.8:
                e["error"] = f"skipped: needs {kv_bytes / 1e9:.1f} GB of KV"
                out.append(e)
                continue
            qd = torch.randn(b, heads, 1, hd, device="cuda", dtype=torch.bfloat16)
            n = copies_for(kv_bytes)
            kd = [torch.randn(b, kv, ctx, hd, device="cuda", dtype=torch.bfloat16) for _ in range(n)]
            vd = [torch.randn_like(kd[0]) for _ in range(n)]
            ms = median_ms(lambda i: F.scaled_dot_product_attention(qd, kd[i % n], vd[i % n], enable_gqa=True), 3, 20)
            e.update(ms=ms, tbps=kv_bytes / ms / 1e9)
            out.append(e)
            del qd, kd, vd
            torch.cuda.empty_cache()
    return out


def build_model(cfg, layers, max_positions):
    from transformers import LlamaConfig, LlamaForCausalLM
    c = dict(cfg, max_position_embeddings=max_positions, rms_norm_eps=1e-5, hidden_act="silu",
             tie_word_embeddings=False)
    if layers:
        c["num_hidden_layers"] = layers
    config = LlamaConfig(**c, attn_implementation="sdpa")
    torch.manual_seed(0)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16)  # parameters are made in bf16 on the device, never in fp32
    try:
        with torch.device("cuda"):
            model = LlamaForCausalLM(config)
    finally:
        torch.set_default_dtype(previous)
    model.eval()
    return model


def estimate_bytes(cfg, layers, ctx, batch, weight_bytes):
    """KV cache plus the largest prefill activations (the MLP's): cells far above the device's memory are skipped."""
    kv = 2 * batch * ctx * layers * cfg["num_key_value_heads"] * cfg["head_dim"] * 2
    act = 4 * batch * ctx * cfg["intermediate_size"] * 2
    return weight_bytes + kv + act


def generate_decode(model, ids, decode_tokens):
    """The same decode through model.generate (greedy), timed per step by a logits processor that
    synchronizes: a cross-check of the hand-written loop above."""
    from transformers import LogitsProcessor, LogitsProcessorList

    class Stamp(LogitsProcessor):
        def __init__(self):
            self.times = []

        def __call__(self, input_ids, scores):
            torch.cuda.synchronize()
            self.times.append(time.perf_counter())
            return scores

    stamp = Stamp()
    try:
        model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=decode_tokens,
                       min_new_tokens=decode_tokens, do_sample=False, logits_processor=LogitsProcessorList([stamp]),
                       pad_token_id=0)
    except Exception as err:  # a cross-check only: never lose the cell for it
        return {"generate_error": str(err).splitlines()[0][:300]}
    steps = [(b - a) * 1000 for a, b in zip(stamp.times, stamp.times[1:])]  # the first stamp ends prefill
    return {"decode_ms_per_token_generate": statistics.median(steps[1:]) if len(steps) > 1 else None}


def transformers_runs(cfg, layers, cells, decode_tokens, generate_check):
    model = build_model(cfg, layers, max(c for c, _ in cells) + decode_tokens + 8)
    weight_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    n_layers = model.config.num_hidden_layers
    vocab = cfg["vocab_size"]
    out = []
    rope = getattr(model.config, "rope_parameters", None) or getattr(model.config, "rope_scaling", None)
    info = {"attn_implementation": model.config._attn_implementation, "parameters_bytes": weight_bytes,
            "layers": n_layers, "dtype": str(next(model.parameters()).dtype), "rope": rope}
    with torch.no_grad():
        for ctx, b in cells:
            e = {"context": ctx, "batch": b}
            need = estimate_bytes(cfg, n_layers, ctx + decode_tokens, b, weight_bytes)
            if need > DEVICE_BYTES * 1.1:  # clearly too big; closer calls are tried (out of memory is caught)
                e["error"] = f"skipped: needs about {need / 1e9:.0f} GB, the device has {DEVICE_BYTES / 1e9:.0f}"
                out.append(e)
                continue
            try:
                ids = torch.randint(3, vocab, (b, ctx), device="cuda", generator=torch.Generator("cuda").manual_seed(ctx + b))
                warm = model(ids[:, : min(ctx, 2048)], use_cache=True, logits_to_keep=1)  # warm-up
                model(warm.logits[:, -1:].argmax(-1), past_key_values=warm.past_key_values, use_cache=True)
                del warm
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
                t0 = time.perf_counter()
                res = model(ids, use_cache=True, logits_to_keep=1)
                nxt = res.logits[:, -1:].argmax(-1)
                torch.cuda.synchronize()
                e["prefill_ms"] = (time.perf_counter() - t0) * 1000
                past = res.past_key_values
                steps = []
                for _ in range(decode_tokens):
                    t0 = time.perf_counter()
                    res = model(nxt, past_key_values=past, use_cache=True)
                    nxt = res.logits[:, -1:].argmax(-1)
                    torch.cuda.synchronize()
                    steps.append((time.perf_counter() - t0) * 1000)
                    past = res.past_key_values
                e["decode_ms_per_token"] = statistics.median(steps[1:]) if len(steps) > 1 else None
                e["decode_steps"] = len(steps)
                e["peak_device_bytes"] = torch.cuda.max_memory_allocated()
                del res, past
                if ctx <= generate_check:
                    e.update(generate_decode(model, ids, decode_tokens))
                del ids
            except torch.OutOfMemoryError:
                e = {"context": ctx, "batch": b, "error": "out of memory"}
                ids = res = past = nxt = None  # drop the references so that empty_cache frees them
            out.append(e)
            torch.cuda.empty_cache()
            print(f"transformers {ctx} x{b}: {e}", file=sys.stderr, flush=True)
    del model
    torch.cuda.empty_cache()
    return out, info


def main():
    global DEVICE_BYTES
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shape", default="llama-3-8b", choices=sorted(SHAPES))
    p.add_argument("--layers", type=int, default=0, help="decoder layers of the transformers model (default: the shape's)")
    p.add_argument("--contexts", default="8k,32k")
    p.add_argument("--batch", default="1")
    p.add_argument("--batch-contexts", help="contexts at which batches above 1 run (default: every context)")
    p.add_argument("--decode-tokens", type=int, default=64)
    p.add_argument("--generate-check", default="0",
                   help="also time decode through model.generate for contexts up to this (default 0: never)")
    p.add_argument("--skip", default="", help="comma-separated parts to skip: transformers,sdpa,matmul,copy")
    p.add_argument("--out", help="write the JSON here too")
    a = p.parse_args()
    cfg = SHAPES[a.shape]
    contexts = [parse_count(c) for c in a.contexts.split(",")]
    batches = [parse_count(b) for b in a.batch.split(",")]
    batch_contexts = [parse_count(c) for c in a.batch_contexts.split(",")] if a.batch_contexts else contexts
    if set(batch_contexts) - set(contexts):
        raise SystemExit(f"--batch-contexts: {sorted(set(batch_contexts) - set(contexts))} not in --contexts")
    cells = [(c, b) for c in contexts for b in batches if b == 1 or c in batch_contexts]
    skip = set(filter(None, a.skip.split(",")))
    unknown = skip - {"transformers", "sdpa", "matmul", "copy"}
    if unknown:
        raise SystemExit(f"--skip: unknown part(s) {sorted(unknown)}")
    if a.decode_tokens < 2:
        raise SystemExit("--decode-tokens must be at least 2 (the first step is excluded from the median)")
    DEVICE_BYTES = torch.cuda.get_device_properties(0).total_memory
    import transformers
    result = {"device": torch.cuda.get_device_name(), "date": datetime.datetime.now(datetime.timezone.utc).date().isoformat(),
              "shape": a.shape, "layers": a.layers or cfg["num_hidden_layers"], "contexts": contexts,
              "batches": batches, "batch_contexts": batch_contexts, "decode_tokens": a.decode_tokens, "torch": torch.__version__,
              "transformers_version": transformers.__version__, "command": " ".join(sys.argv)}
    t0 = time.time()
    if "copy" not in skip:
        result["copy_tbps"] = copy_bandwidth()
    if "matmul" not in skip:
        result["matmul"] = matmuls(batches)
    if "sdpa" not in skip:
        result["sdpa"] = sdpa(cfg, cells)
    if "transformers" not in skip:
        result["transformers"], result["transformers_model"] = transformers_runs(
            cfg, a.layers, cells, a.decode_tokens, parse_count(a.generate_check))
    result["wall_s"] = time.time() - t0
    text = json.dumps(result, indent=1)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text)
    print(text)


if __name__ == "__main__":
    sys.exit(main())
