#!/usr/bin/env python3
"""Peer measurements for `lserve bench`, run on the GPU host in the same run as our numbers.

Measures, on random bf16 weights of a named Llama shape:
  * Hugging Face transformers (SDPA attention): prefill latency and decode ms/token (median over
    steps, the first excluded), per context and batch;
  * torch SDPA attention alone (flash and cuDNN backends): causal prefill over one layer's heads
    and single-token decode over a KV cache of the same length;
  * torch matmul (cuBLAS) on the model's GEMM shapes at 8192 tokens and at decode batch sizes;
  * a device-to-device copy (the bandwidth ceiling).
Everything is timed with CUDA events after warm-up; medians are reported.

Usage (on the GPU host):
  python3 scripts/bench_peers.py --shape llama-3-8b --contexts 8k,32k --batch 1 --decode-tokens 16 --out peers.json
"""
import argparse
import json
import statistics
import sys
import time

SHAPES = {
    # name: (hidden, intermediate, layers, heads, kv_heads, head_dim, vocab, rope_theta)
    "llama-3-8b": (4096, 14336, 32, 32, 8, 128, 128256, 500000.0),
    "llama-2-7b": (4096, 11008, 32, 32, 32, 128, 32000, 10000.0),
    "minitron-4b": (3072, 9216, 32, 32, 8, 128, 128256, 500000.0),
}


def parse_count(s):
    s = s.strip().lower()
    return int(float(s[:-1]) * 1024) if s.endswith("k") else int(s)


def timed(fn, warmup=2, repeat=5):
    import torch
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeat):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        torch.cuda.synchronize()
        times.append(a.elapsed_time(b))
    return statistics.median(times)


def copy_bandwidth():
    import torch
    x = torch.empty(2 * 1024**3, dtype=torch.uint8, device="cuda")
    y = torch.empty_like(x)
    ms = timed(lambda: y.copy_(x), 3, 10)
    return {"name": "copy", "shape": "2 GiB", "ms": ms, "tflops_or_gbps": 2 * x.numel() / ms / 1e6}


def matmuls(shape, tokens_list):
    import torch
    hidden, inter, _, heads, kv, hd, vocab, _ = shape
    gemms = {"qkv": (hidden, (heads + 2 * kv) * hd), "o": (heads * hd, hidden),
             "gate_up": (hidden, 2 * inter), "down": (inter, hidden)}
    out = []
    for tokens in tokens_list:
        for name, (k, n) in gemms.items():
            a = torch.randn(tokens, k, device="cuda", dtype=torch.bfloat16)
            w = torch.randn(n, k, device="cuda", dtype=torch.bfloat16)
            ms = timed(lambda: a @ w.t(), 3, 10)
            flops = 2 * tokens * k * n
            rate = flops / ms / 1e9 if tokens >= 256 else (n * k * 2) / ms / 1e6  # TFLOP/s, or GB/s of weights
            out.append({"name": f"matmul_{name}", "shape": f"{tokens}x{k}x{n}", "ms": ms,
                        "tflops_or_gbps": rate, "unit": "TFLOP/s" if tokens >= 256 else "GB/s"})
    return out


def sdpa(shape, contexts, batches):
    import torch
    import torch.nn.functional as F
    from torch.nn.attention import SDPBackend, sdpa_kernel
    _, _, _, heads, kv, hd, _, _ = shape
    out = []
    for ctx in contexts:
        q = torch.randn(1, heads, ctx, hd, device="cuda", dtype=torch.bfloat16)
        k = torch.randn(1, kv, ctx, hd, device="cuda", dtype=torch.bfloat16)
        v = torch.randn_like(k)
        flops = 4 * heads * hd * ctx * ctx / 2  # causal
        for name, backend in (("flash", SDPBackend.FLASH_ATTENTION), ("cudnn", SDPBackend.CUDNN_ATTENTION)):
            try:
                with sdpa_kernel(backend):
                    ms = timed(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True), 1, 3)
                out.append({"kind": "prefill", "backend": name, "context": ctx, "ms_per_layer": ms,
                            "tflops": flops / ms / 1e9})
            except RuntimeError as e:
                out.append({"kind": "prefill", "backend": name, "context": ctx, "error": str(e)[:200]})
        del q
        for b in batches:
            qd = torch.randn(b, heads, 1, hd, device="cuda", dtype=torch.bfloat16)
            kd = torch.randn(b, kv, ctx, hd, device="cuda", dtype=torch.bfloat16)
            vd = torch.randn_like(kd)
            ms = timed(lambda: F.scaled_dot_product_attention(qd, kd, vd, enable_gqa=True), 3, 10)
            out.append({"kind": "decode", "context": ctx, "batch": b, "ms_per_layer": ms,
                        "gbps": 2 * kd.numel() * 2 / ms / 1e6})
            del qd, kd, vd
        del k, v
        torch.cuda.empty_cache()
    return out


def transformers_model(shape, max_positions):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM
    hidden, inter, layers, heads, kv, hd, vocab, theta = shape
    cfg = LlamaConfig(hidden_size=hidden, intermediate_size=inter, num_hidden_layers=layers,
                      num_attention_heads=heads, num_key_value_heads=kv, head_dim=hd, vocab_size=vocab,
                      rope_theta=theta, max_position_embeddings=max_positions, attn_implementation="sdpa")
    torch.manual_seed(0)
    with torch.device("cuda"):
        model = LlamaForCausalLM(cfg).to(torch.bfloat16)
    model.eval()
    return model


def transformers_runs(shape, contexts, batches, decode_tokens):
    import torch
    model = transformers_model(shape, max(contexts) + decode_tokens + 8)
    vocab = shape[6]
    out = []
    for ctx in contexts:
        for b in batches:
            ids = torch.randint(3, vocab, (b, ctx), device="cuda")
            try:
                with torch.no_grad():
                    model(ids[:, :256], use_cache=True)  # warm-up
                    torch.cuda.synchronize()
                    torch.cuda.reset_peak_memory_stats()
                    t0 = time.perf_counter()
                    res = model(ids, use_cache=True, logits_to_keep=1)
                    torch.cuda.synchronize()
                    prefill_ms = (time.perf_counter() - t0) * 1000
                    past, nxt = res.past_key_values, res.logits[:, -1:].argmax(-1)
                    steps = []
                    for _ in range(decode_tokens):
                        t0 = time.perf_counter()
                        res = model(nxt, past_key_values=past, use_cache=True)
                        nxt = res.logits[:, -1:].argmax(-1)
                        torch.cuda.synchronize()
                        steps.append((time.perf_counter() - t0) * 1000)
                        past = res.past_key_values
                out.append({"context": ctx, "batch": b, "prefill_ms": prefill_ms,
                            "decode_ms_per_token": statistics.median(steps[1:]) if len(steps) > 1 else None,
                            "peak_device_bytes": torch.cuda.max_memory_allocated()})
            except torch.OutOfMemoryError:
                out.append({"context": ctx, "batch": b, "error": "out of memory"})
            del ids
            torch.cuda.empty_cache()
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shape", default="llama-3-8b", choices=sorted(SHAPES))
    p.add_argument("--contexts", default="8k,32k")
    p.add_argument("--batch", default="1")
    p.add_argument("--decode-tokens", type=int, default=16)
    p.add_argument("--skip", default="", help="comma-separated parts to skip: transformers,sdpa,matmul,copy")
    p.add_argument("--out", help="write the JSON here too")
    a = p.parse_args()
    import torch
    shape = SHAPES[a.shape]
    contexts = [parse_count(c) for c in a.contexts.split(",")]
    batches = [int(b) for b in a.batch.split(",")]
    skip = set(filter(None, a.skip.split(",")))
    result = {"device": torch.cuda.get_device_name(), "shape": a.shape, "torch": torch.__version__}
    if "copy" not in skip:
        result["copy"] = copy_bandwidth()
    if "matmul" not in skip:
        result["matmul"] = matmuls(shape, [8192] + batches)
    if "sdpa" not in skip:
        result["sdpa"] = sdpa(shape, contexts, batches)
    if "transformers" not in skip:
        import transformers
        result["transformers_version"] = transformers.__version__
        result["transformers"] = transformers_runs(shape, contexts, batches, a.decode_tokens)
    text = json.dumps(result, indent=1)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text)
    print(text)


if __name__ == "__main__":
    sys.exit(main())
