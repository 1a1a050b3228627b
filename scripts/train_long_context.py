#!/usr/bin/env python3
"""Trains lserve-needle-7m, the bundled long-context retrieval model (issue 6).

A small Llama (transformers ``LlamaForCausalLM``: 4 layers, hidden 512, 4 query heads and 2 KV
heads of head_dim 128, FFN 640, RoPE theta 500000, byte-level vocabulary of 260) trained from
scratch on synthetic long-context retrieval tasks over filler text (``longctx_tasks.py``:
passkey, multi-key needles, key-value lookup, variable tracking), with the loss on the answer
tokens and the end token only.

Length curriculum (trial C of ../shared/reference/training-notes.md): lengths 256, 512, 1K, ...,
``--max-length``; each step draws its length uniformly from the lengths allowed so far, and the
next length is allowed once the running mean (0.95 decay) of the answer loss of the passkey,
multikey and kv samples at the current longest length is below ``--gate``. Each sample fills 5/8
to all of its row (padded after it), so that the end token is not tied to an absolute position.
About ``--tokens-per-step`` tokens per step. AdamW lr 1e-3
(betas 0.9/0.95, no weight decay), 100 warm-up steps, cosine decay to 0.1x over
``--total-steps``, gradient-norm clip 1.0, bf16 autocast.

Resumable: ``--state-dir`` holds the model (``model.safetensors``, bf16, the exported weights
themselves), the bf16 remainder of the float32 master weights (``weights_lo.safetensors``), the
AdamW moments in bf16 (``exp_avg.safetensors``, ``exp_avg_sq.safetensors``) and
``state.json`` (step, curriculum, random generator states, history); every file stays under
16 MiB. A run stops itself after ``--time-budget`` seconds and saves; the next run started with
``--resume DIR`` continues where it stopped.

    # on the GPU host (about 8 minutes each; the bundled model is these two runs)
    python3 scripts/train_long_context.py --state-dir $OUT/train --time-budget 465 --eval
    python3 scripts/train_long_context.py --resume .train/run1 --state-dir $OUT/train \
        --lr 5e-4 --total-steps 11500 --gate 0.35 --time-budget 465 --eval
    # anywhere (CPU is enough): write the Hugging Face checkpoint from a state directory
    python3 scripts/train_long_context.py --resume .train/run2 --export examples/models/lserve-needle-7m
    # calibration data for the head pattern (then: bin/lserve calibrate ... --data FILE --length 4096)
    python3 scripts/train_long_context.py --write-calibration /tmp/calib-qa-4096.txt

Without transformers installed (``--backend mini``, the default when it is missing) an
equivalent plain-PyTorch Llama with the same parameter names is used; it exists to test this
script on machines without transformers.
"""
import argparse
import base64
import json
import math
import os
import pickle
import random
import struct
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import longctx_tasks as tasks  # noqa: E402

T0 = time.time()
# The length gate watches the retrieval tasks (mean of their per-token answer losses); variable
# tracking trains at every length but does not hold the curriculum back.
GATE_TASKS = ("passkey", "multikey", "kv")

# ---------------------------------------------------------------------------------------------
# Tokenizer: byte-level, ids 0-3 special, 4 + byte for every byte
# ---------------------------------------------------------------------------------------------
UNK, BOS, EOS, PAD = 0, 1, 2, 3
SPECIALS = ["<unk>", "<s>", "</s>", "<pad>"]
BYTE0 = 4
VOCAB = BYTE0 + 256


def bytes_to_unicode():
    """GPT-2's byte -> printable character map (what the ByteLevel pre-tokenizer uses)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\u00a1"), ord("\u00ac") + 1)) + \
        list(range(ord("\u00ae"), ord("\u00ff") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def tokenizer_json():
    b2u = bytes_to_unicode()
    vocab = {s: i for i, s in enumerate(SPECIALS)}
    for b in range(256):
        vocab[b2u[b]] = BYTE0 + b
    added = [{"id": i, "content": s, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True} for i, s in enumerate(SPECIALS)]
    bos = {"SpecialToken": {"id": "<s>", "type_id": 0}}
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
                          "use_regex": True},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [bos, {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [bos, {"Sequence": {"id": "A", "type_id": 0}}, bos,
                     {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {"<s>": {"id": "<s>", "ids": [BOS], "tokens": ["<s>"]}},
        },
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True,
                    "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None,
                  "continuing_subword_prefix": None, "end_of_word_suffix": None,
                  "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": vocab, "merges": []},
    }


def encode(text):
    return [BYTE0 + b for b in text.encode("utf-8")]


def decode(ids):
    return bytes(i - BYTE0 for i in ids if i >= BYTE0).decode("utf-8", errors="replace")


# ---------------------------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------------------------
def model_config(args):
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": VOCAB,
        "hidden_size": args.hidden,
        "intermediate_size": args.ffn,
        "num_hidden_layers": args.layers,
        "num_attention_heads": args.heads,
        "num_key_value_heads": args.kv_heads,
        "head_dim": 128,
        "hidden_act": "silu",
        "max_position_embeddings": args.max_length,
        "initializer_range": 0.02,
        "rms_norm_eps": 1e-5,
        "rope_theta": args.rope_theta,
        "rope_scaling": None,
        "attention_bias": False,
        "attention_dropout": 0.0,
        "mlp_bias": False,
        "tie_word_embeddings": False,
        "bos_token_id": BOS,
        "eos_token_id": EOS,
        "pad_token_id": PAD,
        "torch_dtype": "bfloat16",
        "use_cache": True,
    }


def hf_model(cfg):
    from transformers import LlamaConfig, LlamaForCausalLM
    kw = {k: v for k, v in cfg.items() if k not in ("architectures", "model_type", "torch_dtype",
                                                   "rope_theta", "rope_scaling")}
    kw["rope_parameters"] = {"rope_type": "default", "rope_theta": float(cfg["rope_theta"])}
    c = LlamaConfig(**kw)
    c._attn_implementation = "sdpa"
    m = LlamaForCausalLM(c)
    inv = getattr(getattr(m.model, "rotary_emb", None), "inv_freq", None)
    want = 1.0 / (cfg["rope_theta"] ** (torch.arange(0, 128, 2).float() / 128))
    if inv is None:
        print("warning: cannot check RoPE inv_freq; rope_parameters = %s" % getattr(c, "rope_parameters", None))
    elif not torch.allclose(inv.float().cpu(), want, rtol=1e-4):
        raise RuntimeError("transformers did not take rope_theta %s" % cfg["rope_theta"])
    return m


class _Out:
    def __init__(self, h):
        self.last_hidden_state = h


class MiniRMSNorm(nn.Module):
    def __init__(self, d, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x):
        dt = x.dtype
        x = x.float()
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x.to(dt)


class MiniAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, h, kv = c["hidden_size"], c["num_attention_heads"], c["num_key_value_heads"]
        self.h, self.kv, self.hd = h, kv, c["head_dim"]
        self.q_proj = nn.Linear(d, h * self.hd, bias=False)
        self.k_proj = nn.Linear(d, kv * self.hd, bias=False)
        self.v_proj = nn.Linear(d, kv * self.hd, bias=False)
        self.o_proj = nn.Linear(h * self.hd, d, bias=False)

    def forward(self, x, cos, sin):
        b, n, _ = x.shape
        q = self.q_proj(x).view(b, n, self.h, self.hd).transpose(1, 2)
        k = self.k_proj(x).view(b, n, self.kv, self.hd).transpose(1, 2)
        v = self.v_proj(x).view(b, n, self.kv, self.hd).transpose(1, 2)

        def rot(t):
            t1, t2 = t[..., : self.hd // 2], t[..., self.hd // 2:]
            return t * cos + torch.cat((-t2, t1), -1) * sin

        q, k = rot(q), rot(k)
        k = k.repeat_interleave(self.h // self.kv, 1)
        v = v.repeat_interleave(self.h // self.kv, 1)
        if hasattr(F, "scaled_dot_product_attention"):
            o = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:  # old PyTorch
            s = (q @ k.transpose(-1, -2)) / math.sqrt(self.hd)
            s = s.masked_fill(torch.ones(n, n, dtype=torch.bool, device=x.device).triu(1), float("-inf"))
            o = s.float().softmax(-1).to(v.dtype) @ v
        return self.o_proj(o.transpose(1, 2).reshape(b, n, -1))


class MiniMLP(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, f = c["hidden_size"], c["intermediate_size"]
        self.gate_proj = nn.Linear(d, f, bias=False)
        self.up_proj = nn.Linear(d, f, bias=False)
        self.down_proj = nn.Linear(f, d, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class MiniLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.self_attn = MiniAttention(c)
        self.mlp = MiniMLP(c)
        self.input_layernorm = MiniRMSNorm(c["hidden_size"], c["rms_norm_eps"])
        self.post_attention_layernorm = MiniRMSNorm(c["hidden_size"], c["rms_norm_eps"])

    def forward(self, x, cos, sin):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin)
        return x + self.mlp(self.post_attention_layernorm(x))


class MiniBody(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embed_tokens = nn.Embedding(c["vocab_size"], c["hidden_size"])
        self.layers = nn.ModuleList(MiniLayer(c) for _ in range(c["num_hidden_layers"]))
        self.norm = MiniRMSNorm(c["hidden_size"], c["rms_norm_eps"])
        hd = c["head_dim"]
        self.register_buffer("inv_freq", 1.0 / (c["rope_theta"] ** (torch.arange(0, hd, 2).float() / hd)),
                             persistent=False)

    def forward(self, input_ids):
        n = input_ids.shape[1]
        f = torch.outer(torch.arange(n, device=input_ids.device).float(), self.inv_freq)
        e = torch.cat((f, f), -1)
        x = self.embed_tokens(input_ids)
        cos, sin = e.cos().to(x.dtype), e.sin().to(x.dtype)
        for layer in self.layers:
            x = layer(x, cos, sin)
        return _Out(self.norm(x))


class MiniLlama(nn.Module):
    """Plain-PyTorch Llama with transformers' parameter names (for machines without it)."""

    def __init__(self, c):
        super().__init__()
        self.model = MiniBody(c)
        self.lm_head = nn.Linear(c["hidden_size"], c["vocab_size"], bias=False)
        for name, p in self.named_parameters():
            if name.endswith("norm.weight"):
                continue
            nn.init.normal_(p, std=c["initializer_range"])


def make_model(cfg, backend):
    return hf_model(cfg) if backend == "hf" else MiniLlama(cfg)


# ---------------------------------------------------------------------------------------------
# safetensors (written and read by hand: bf16 only, no dependency)
# ---------------------------------------------------------------------------------------------
def save_safetensors(path, tensors, metadata=None):
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        t = t.detach().to("cpu", torch.bfloat16).contiguous()
        raw = t.view(torch.int16).numpy().tobytes()
        header[name] = {"dtype": "BF16", "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    if metadata:
        header["__metadata__"] = metadata
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)
    return 8 + len(h) + off


def load_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] != "BF16":
            raise ValueError("%s: %s is %s, expected BF16" % (path, name, info["dtype"]))
        s, e = info["data_offsets"]
        t = torch.frombuffer(bytearray(data[base + s:base + e]), dtype=torch.int16)
        out[name] = t.view(torch.bfloat16).reshape(info["shape"])
    return out


# ---------------------------------------------------------------------------------------------
# State
# ---------------------------------------------------------------------------------------------
def save_state(d, model, opt, st):
    os.makedirs(d, exist_ok=True)
    params = dict(model.named_parameters())
    hi = {k: p.detach().to(torch.bfloat16) for k, p in params.items()}
    lo = {k: (p.detach().float() - hi[k].float()) for k, p in params.items()}
    m, v = {}, {}
    for k, p in params.items():
        s = opt.state.get(p, {})
        if "exp_avg" in s:
            m[k], v[k] = s["exp_avg"], s["exp_avg_sq"]
    sizes = [save_safetensors(os.path.join(d, "model.safetensors"), hi, {"format": "pt"}),
             save_safetensors(os.path.join(d, "weights_lo.safetensors"), lo)]
    if m:
        sizes.append(save_safetensors(os.path.join(d, "exp_avg.safetensors"), m))
        sizes.append(save_safetensors(os.path.join(d, "exp_avg_sq.safetensors"), v))
    st = dict(st)
    st["rng"] = {
        "python": base64.b64encode(pickle.dumps(random.getstate())).decode(),
        "data": base64.b64encode(pickle.dumps(st["data_rng"].getstate())).decode(),
        "torch": base64.b64encode(torch.get_rng_state().numpy().tobytes()).decode(),
    }
    st.pop("data_rng")
    with open(os.path.join(d, "state.json.tmp"), "w") as f:
        json.dump(st, f, indent=1)
    os.replace(os.path.join(d, "state.json.tmp"), os.path.join(d, "state.json"))
    return max(sizes)


def load_state(d, model, opt):
    with open(os.path.join(d, "state.json")) as f:
        st = json.load(f)
    hi = load_safetensors(os.path.join(d, "model.safetensors"))
    lo_path = os.path.join(d, "weights_lo.safetensors")
    lo = load_safetensors(lo_path) if os.path.exists(lo_path) else {}
    params = dict(model.named_parameters())
    with torch.no_grad():
        for k, p in params.items():
            w = hi[k].float()
            if k in lo:
                w = w + lo[k].float()
            p.copy_(w.to(p.device))
    if opt is not None and os.path.exists(os.path.join(d, "exp_avg.safetensors")):
        m = load_safetensors(os.path.join(d, "exp_avg.safetensors"))
        v = load_safetensors(os.path.join(d, "exp_avg_sq.safetensors"))
        for k, p in params.items():
            if k in m:
                s = opt.state[p]
                fused = p.device.type == "cuda"
                s["step"] = torch.tensor(float(st["step"]), dtype=torch.float32,
                                         device=p.device if fused else "cpu")
                s["exp_avg"] = m[k].float().to(p.device)
                s["exp_avg_sq"] = v[k].float().to(p.device)
    rng = st.pop("rng")
    random.setstate(pickle.loads(base64.b64decode(rng["python"])))
    dr = random.Random()
    dr.setstate(pickle.loads(base64.b64decode(rng["data"])))
    st["data_rng"] = dr
    torch.set_rng_state(torch.frombuffer(bytearray(base64.b64decode(rng["torch"])), dtype=torch.uint8))
    return st


def export(d, model, cfg, extra=None):
    """A Hugging Face checkpoint directory that transformers and our engine load."""
    os.makedirs(d, exist_ok=True)
    save_safetensors(os.path.join(d, "model.safetensors"),
                     {k: p for k, p in model.named_parameters()}, {"format": "pt"})
    c = dict(cfg)
    c["transformers_version"] = "5.17.0"
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(c, f, indent=2)
    with open(os.path.join(d, "generation_config.json"), "w") as f:
        json.dump({"bos_token_id": BOS, "eos_token_id": EOS, "pad_token_id": PAD, "do_sample": False}, f, indent=2)
    with open(os.path.join(d, "tokenizer.json"), "w") as f:
        json.dump(tokenizer_json(), f, indent=2, ensure_ascii=False)
    with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
        json.dump({"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<s>", "eos_token": "</s>",
                   "unk_token": "<unk>", "pad_token": "<pad>", "add_bos_token": True,
                   "model_max_length": cfg["max_position_embeddings"],
                   "clean_up_tokenization_spaces": False}, f, indent=2)
    if extra:
        with open(os.path.join(d, "training_state.json"), "w") as f:
            json.dump(extra, f, indent=1)


# ---------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------
def lengths_upto(max_length, min_length):
    out, n = [], min_length
    while n <= max_length:
        out.append(n)
        n *= 2
    return out


def make_batch(rng, length, count, device):
    ids, rows, cols, tgts, task_of = [], [], [], [], []
    for b in range(count):
        task = rng.choice([t for t in tasks.TASKS if tasks.MIN_LENGTH[t] <= length])
        # The sample fills 5/8 to all of the row (padding after it): were every sample to end
        # at the row's end, the model would learn to stop by absolute position (seen in run 1).
        n = rng.randint(max(length * 5 // 8, tasks.MIN_LENGTH[task]), length)
        prompt, answer = tasks.training_sample(rng, task, n)
        seq = [BOS] + encode(prompt) + encode(answer) + [EOS]
        assert len(seq) == n
        seq += [PAD] * (length - n)
        p = 1 + len(prompt)
        for j in range(len(answer) + 1):
            rows.append(b)
            cols.append(p - 1 + j)
            tgts.append(seq[p + j])
            task_of.append(tasks.TASKS.index(task))
        ids.append(seq)
    t = lambda x: torch.tensor(x, device=device)  # noqa: E731
    return t(ids), t(rows), t(cols), t(tgts), t(task_of)


def lr_at(step, args):
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    p = min(1.0, (step - args.warmup) / max(1, args.total_steps - args.warmup))
    return args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * p)))


def answer_logits(model, ids, rows, cols, autocast):
    with autocast:
        h = model.model(input_ids=ids).last_hidden_state
        return model.lm_head(h[rows, cols]).float()


@torch.no_grad()
def greedy(model, backend, prompts, max_new, device, autocast):
    """Greedy continuation of equal-length prompts (token id lists), stopping at </s>."""
    ids = torch.tensor(prompts, device=device)
    if backend == "hf":
        with autocast:
            out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new,
                                 do_sample=False, eos_token_id=EOS, pad_token_id=PAD)
        gen = out[:, ids.shape[1]:].tolist()
    else:
        gen = [[] for _ in prompts]
        cur = ids
        for _ in range(max_new):
            with autocast:
                h = model.model(input_ids=cur).last_hidden_state[:, -1]
                nxt = model.lm_head(h).float().argmax(-1)
            cur = torch.cat([cur, nxt[:, None]], 1)
            for g, t in zip(gen, nxt.tolist()):
                g.append(t)
    res = []
    for g in gen:
        if EOS in g:
            g = g[: g.index(EOS)]
        res.append(decode(g))
    return res


def evaluate(model, backend, lengths, samples, seed, device, autocast, deadline):
    """Greedy exact-match accuracy per task and length on fresh samples (prompt = L tokens)."""
    model.eval()
    rng = random.Random(seed)
    table = {}
    for length in lengths:
        for task in tasks.TASKS:
            if time.time() > deadline:
                return table
            prompts, answers = [], []
            for _ in range(samples):
                p, a = tasks.build(rng, task, length - 1)
                prompts.append([BOS] + encode(p))
                answers.append(a.strip())
            got = []
            per = max(1, (1 << 17) // length)
            for i in range(0, samples, per):
                got += greedy(model, backend, prompts[i:i + per], len(answers[0]) + 3, device, autocast)
            ok = sum(g.strip() == a for g, a in zip(got, answers))
            table["%s@%d" % (task, length)] = ok / samples
            print("eval %-8s %6d: %5.1f%%  e.g. %r -> %r" % (task, length, 100 * ok / samples,
                                                            answers[0], got[0].strip()), flush=True)
    model.train()
    return table


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--state-dir", default=".train/state", help="where to save the training state")
    ap.add_argument("--resume", help="state directory to start from (default: a fresh model)")
    ap.add_argument("--export", help="write the Hugging Face checkpoint here and stop (with --resume)")
    ap.add_argument("--backend", choices=["hf", "mini"], default=None)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--hidden", type=int, default=512)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--kv-heads", type=int, default=2)
    ap.add_argument("--ffn", type=int, default=640)
    ap.add_argument("--rope-theta", type=float, default=500000.0)
    ap.add_argument("--min-length", type=int, default=256)
    ap.add_argument("--max-length", type=int, default=32768)
    ap.add_argument("--tokens-per-step", type=int, default=65536)
    ap.add_argument("--gate", type=float, default=0.3)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--total-steps", type=int, default=6000)
    ap.add_argument("--max-steps", type=int, default=10 ** 9, help="stop after this many steps (this run)")
    ap.add_argument("--time-budget", type=float, default=480, help="seconds after start to stop training and save")
    ap.add_argument("--save-every", type=float, default=120, help="seconds between saves")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--log-every", type=int, default=25)
    ap.add_argument("--eval", action="store_true", help="greedy exact-match evaluation after training")
    ap.add_argument("--eval-samples", type=int, default=16)
    ap.add_argument("--eval-seed", type=int, default=777)
    ap.add_argument("--eval-budget", type=float, default=60, help="seconds at most for --eval")
    ap.add_argument("--export-after", help="also export the checkpoint here after training")
    ap.add_argument("--write-calibration", metavar="FILE", help="write calibration token ids for `lserve calibrate` and stop")
    ap.add_argument("--calibration-length", type=int, default=4096)
    ap.add_argument("--calibration-samples", type=int, default=8)
    ap.add_argument("--calibration-seed", type=int, default=20261124)
    ap.add_argument("--calibration-style", choices=["qa", "samples"], default="qa",
                    help="qa: needles, then every question with its answer (default); samples: training samples")
    args = ap.parse_args()

    if args.backend is None:
        try:
            import transformers  # noqa: F401
            args.backend = "hf"
        except ImportError:
            args.backend = "mini"
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = True
    autocast = torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=cuda)

    cfg = model_config(args)
    if args.resume and os.path.exists(os.path.join(args.resume, "state.json")):
        with open(os.path.join(args.resume, "state.json")) as f:
            saved = json.load(f)["config"]
        for k in ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                  "num_key_value_heads", "rope_theta", "max_position_embeddings"):
            cfg[k] = saved[k]
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    model = make_model(cfg, args.backend).to(device)
    n_params = sum(p.numel() for p in model.parameters())
    print("backend %s, device %s, %d parameters (%.2f MB bf16), config %s" % (
        args.backend, device, n_params, 2 * n_params / 1e6, json.dumps(cfg)), flush=True)

    if args.write_calibration:
        # Calibration sequences for `lserve calibrate --data FILE --length L`: token ids, each
        # sequence <s> prompt answer </s> of exactly L tokens, the tasks taking turns.
        crng = random.Random(args.calibration_seed)
        ids = []
        for i in range(args.calibration_samples):
            if args.calibration_style == "qa":
                ids += [BOS] + encode(tasks.calibration_text(crng, args.calibration_length - 1))
            else:
                task = tasks.TASKS[i % len(tasks.TASKS)]
                prompt, answer = tasks.training_sample(crng, task, args.calibration_length)
                ids += [BOS] + encode(prompt) + encode(answer) + [EOS]
        with open(args.write_calibration, "w") as f:
            f.write(" ".join(map(str, ids)) + "\n")
        print("wrote %d calibration sequences of %d tokens to %s" % (
            args.calibration_samples, args.calibration_length, args.write_calibration))
        return

    if args.export:
        st = load_state(args.resume, model, None)
        st.pop("data_rng")
        export(args.export, model, cfg, {k: st[k] for k in ("step", "allowed", "ema", "unlocked", "train_seconds")})
        print("exported", args.export)
        return

    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.95), weight_decay=0.0,
                            eps=1e-8, **({"fused": True} if cuda else {}))
    lengths = lengths_upto(cfg["max_position_embeddings"], args.min_length)
    if args.resume:
        st = load_state(args.resume, model, opt)
        print("resumed at step %d, lengths allowed %s" % (st["step"], lengths[: st["allowed"]]), flush=True)
    else:
        st = {"step": 0, "allowed": 1, "ema": None, "unlocked": {str(lengths[0]): 0},
              "train_seconds": 0.0, "history": [], "config": cfg, "args": vars(args),
              "data_rng": random.Random(args.seed + 1)}
    st["runs"] = st.get("runs", 0) + 1
    st.setdefault("run_args", []).append({"run": st["runs"], "start_step": st["step"], "args": vars(args)})
    rng = st["data_rng"]
    model.train()

    t_run = time.time()
    base_seconds = st["train_seconds"]
    last_save = time.time()
    task_ema = {t: None for t in tasks.TASKS}
    tok = 0
    steps_this_run = 0
    while time.time() - T0 < args.time_budget and steps_this_run < args.max_steps:
        length = rng.choice(lengths[: st["allowed"]])
        count = max(1, args.tokens_per_step // length)
        ids, rows, cols, tgts, task_of = make_batch(rng, length, count, device)
        lr = lr_at(st["step"], args)
        for g in opt.param_groups:
            g["lr"] = lr
        logits = answer_logits(model, ids, rows, cols, autocast)
        per_tok = F.cross_entropy(logits, tgts, reduction="none")
        loss = per_tok.mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gn = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        st["step"] += 1
        steps_this_run += 1
        tok += ids.numel()
        lv = loss.item()
        gate_losses = []
        for i, t in enumerate(tasks.TASKS):
            sel = task_of == i
            if sel.any():
                v = per_tok[sel].mean().item()
                task_ema[t] = v if task_ema[t] is None else 0.9 * task_ema[t] + 0.1 * v
                if t in GATE_TASKS:
                    gate_losses.append(v)
        cur_max = lengths[st["allowed"] - 1]
        if length == cur_max and gate_losses:
            gv = sum(gate_losses) / len(gate_losses)
            st["ema"] = gv if st["ema"] is None else 0.95 * st["ema"] + 0.05 * gv
            if st["ema"] < args.gate and st["allowed"] < len(lengths):
                st["allowed"] += 1
                st["ema"] = None
                el = base_seconds + time.time() - t_run
                st["unlocked"][str(lengths[st["allowed"] - 1])] = st["step"]
                print("step %d (%.0f s): length %d allowed" % (st["step"], el, lengths[st["allowed"] - 1]), flush=True)
        if st["step"] % args.log_every == 0:
            el = time.time() - t_run
            rec = {"step": st["step"], "t": round(base_seconds + el, 1), "len": length,
                   "max": cur_max, "loss": round(lv, 4), "ema_at_max": None if st["ema"] is None else round(st["ema"], 4),
                   "lr": round(lr, 6), "gnorm": round(float(gn), 3),
                   "tasks": {t: None if v is None else round(v, 3) for t, v in task_ema.items()},
                   "tok_s": round(tok / el)}
            st["history"].append(rec)
            print(json.dumps(rec), flush=True)
        if time.time() - last_save > args.save_every:
            st["train_seconds"] = base_seconds + time.time() - t_run
            save_state(args.state_dir, model, opt, st)
            last_save = time.time()
    st["train_seconds"] = base_seconds + time.time() - t_run
    biggest = save_state(args.state_dir, model, opt, st)
    print("saved %s at step %d (%.0f s of training in all, largest file %.1f MiB)" % (
        args.state_dir, st["step"], st["train_seconds"], biggest / 2 ** 20), flush=True)
    if args.export_after:
        export(args.export_after, model, cfg)
        print("exported", args.export_after, flush=True)
    if args.eval:
        allowed = lengths[: st["allowed"]]
        evl = sorted(set([l for l in allowed if l >= 1024] + [lengths[min(st["allowed"], len(lengths) - 1)]]))
        try:
            table = evaluate(model, args.backend, evl, args.eval_samples, args.eval_seed, device, autocast,
                             time.time() + args.eval_budget)
        except Exception as e:  # the state is saved already; report and go on
            import traceback
            traceback.print_exc()
            table = {"error": repr(e)}
        with open(os.path.join(args.state_dir, "eval.json"), "w") as f:
            json.dump({"step": st["step"], "samples": args.eval_samples, "seed": args.eval_seed,
                       "accuracy": table}, f, indent=1)
        print("eval", json.dumps(table), flush=True)


if __name__ == "__main__":
    main()
