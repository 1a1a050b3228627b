#!/usr/bin/env python3
"""Make tiny random Llama checkpoints and float64 Hugging Face reference outputs.

The Java engine's tests load these checkpoints and compare their own logits,
greedy continuations and tokenizations against ``reference.json``.

Usage (needs torch, transformers 5, tokenizers, safetensors, numpy; no network,
CPU only)::

    python3 scripts/make_reference_fixtures.py --out engine/src/test/fixtures

Everything is seeded, so a rerun with the same library versions writes the same
files.  The whole output is a few MB.

Fixtures (one subdirectory of --out each):

* ``tiny-mha-f32``                  MHA, float32, classic config form, head_dim derived
* ``tiny-gqa-bf16-llama3``           GQA, bfloat16, llama3 RoPE scaling, tied embeddings,
                                     eos list, transformers-5 config form, BPE tokenizer
* ``tiny-headdim-linear-f32-sharded`` explicit head_dim != hidden/heads, linear RoPE scaling,
                                     float32, sharded safetensors with index, classic form
* ``tiny-mqa-f16-hd128``             MQA (one kv head), head_dim 128, float16, classic form

About the "float64" reference: stock transformers keeps three float32 islands even
when the model is cast to float64 (RMSNorm upcasts to float32, RoPE cos/sin are
computed in float32, eager attention's softmax runs in float32).  This script
runs transformers' own LlamaForCausalLM in float64 with those three islands
replaced by float64 code (instance-level patches), checks the result against an
independent float64 implementation that reads the safetensors files directly,
and records in reference.json how far stock transformers (float32 islands and
all) is from it.
"""

import argparse
import glob
import inspect
import json
import math
import os
import shutil
import sys
import traceback

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import numpy as np  # noqa: E402
import torch  # noqa: E402

LOGITS_POSITIONS = [0, 1, 15, 16, 63, 64, 65, 127, 128, 149]
SEQ_LEN = 150
GREEDY_PROMPT_LEN = 40
GREEDY_MAX_NEW = 24

TORCH_DTYPES = {
    "float32": torch.float32,
    "bfloat16": torch.bfloat16,
    "float16": torch.float16,
}

LLAMA3_ROPE = {
    "rope_type": "llama3",
    "factor": 8.0,
    "low_freq_factor": 1.0,
    "high_freq_factor": 4.0,
    "original_max_position_embeddings": 64,
}

FIXTURES = [
    dict(
        name="tiny-mha-f32",
        seed=1001,
        vocab=256, hidden=64, intermediate=172, layers=2, heads=4, kv_heads=4,
        head_dim=None,  # derived: 64 / 4 = 16; config.json carries no head_dim
        eps=1e-6, theta=10000.0, rope=None, max_pos=512, tie=False,
        dtype="float32", bos=0, eos=1,
        form="classic", tokenizer=False, shard=None,
    ),
    dict(
        name="tiny-gqa-bf16-llama3",
        seed=1002,
        vocab=320, hidden=128, intermediate=256, layers=2, heads=8, kv_heads=2,
        head_dim=None,  # derived: 16 (transformers 5 writes it out anyway)
        eps=1e-5, theta=500000.0, rope=LLAMA3_ROPE, max_pos=1024, tie=True,
        dtype="bfloat16", bos=0, eos=[1, 2],
        form="transformers5", tokenizer=True, shard=None,
    ),
    dict(
        name="tiny-headdim-linear-f32-sharded",
        seed=1003,
        vocab=288, hidden=96, intermediate=192, layers=3, heads=4, kv_heads=2,
        head_dim=32,  # explicit, != 96 / 4
        eps=1e-6, theta=10000.0, rope={"rope_type": "linear", "factor": 2.0},
        max_pos=512, tie=False, dtype="float32", bos=0, eos=1,
        form="classic", tokenizer=False, shard="500KB",
    ),
    dict(
        name="tiny-mqa-f16-hd128",
        seed=1004,
        vocab=256, hidden=128, intermediate=256, layers=1, heads=4, kv_heads=1,
        head_dim=128,  # explicit, != 128 / 4
        eps=1e-5, theta=10000.0, rope=None, max_pos=512, tie=False,
        dtype="float16", bos=0, eos=1,
        form="classic", tokenizer=False, shard=None,
    ),
]

GENERATION_CONFIG = {
    "bos_token_id": 0,
    "do_sample": True,
    "eos_token_id": [1, 2],
    "temperature": 0.7,
    "top_p": 0.9,
}

SPECIAL_TOKENS = ["<s>", "</s>", "<|eot|>"]
TOKENIZER_VOCAB = 320

TEXT_CASES = [
    "Hello world! The quick brown fox jumps over the lazy dog.",
    "café – naïve façade, Zürich, 日本語 and 😀",
    "  two leading spaces,\nnew lines\tand tabs 1234567890",
]
GREEDY_TEXT_PROMPT = "Once upon a time, the little model"

# A few KB of plain English, written for this script, to train the tiny BPE.
TRAINING_TEXT = """\
Once upon a time there was a small language model that lived inside a test folder.
It had never read a book, and its weights were nothing but random numbers, yet it
was very proud of itself, because every time the tests ran it answered exactly the
same way. The engineers who built the engine liked that. They could compare the
numbers it produced against the numbers from another program and see at once when
something had gone wrong.

The weather in the valley was mild for most of the year. In the spring the rivers
ran high and the fields turned green; in the summer the days were long and warm,
and children played by the water until the sun went down. When autumn came, the
leaves on the old trees turned red and gold, and the farmers brought in the harvest
before the first cold nights of winter.

A good recipe starts with simple things: flour, water, salt and time. Mix the flour
and the water, let the dough rest for an hour, then fold it gently and let it rest
again. Bake it in a hot oven until the crust is brown and the bread sounds hollow
when you tap it underneath. Let it cool before you cut it, even if it is hard to wait.

The train left the station at seven in the morning. Most of the passengers were
reading or looking out of the window at the hills, the farms and the small towns that
passed by. A man in the corner was writing in a notebook, and a woman next to him was
teaching her son how to count the cars of a long freight train on the other track.

Computers do arithmetic with numbers that have a limited number of bits. A number in
single precision has about seven decimal digits, and a number in double precision has
about sixteen. When a program adds many small numbers to a large one, the order of
the additions can change the last digits of the result. This is why careful tests
compare results with a tolerance instead of asking for the very same bits.

The library opened at nine and closed at six. On the ground floor there were
newspapers and magazines, and on the upper floors there were long rows of shelves with
books about history, science, music, travel and the art of cooking. Students worked at
the wooden tables near the windows, and the only sound was the turning of pages.

When you write a story, think about the people in it. What do they want, and what
stands in their way? A story is often about a choice: the moment when someone has to
decide between two things that both matter. The best endings are the ones that feel
surprising and, at the same time, as if they could not have happened any other way.

The city was built on seven hills around a wide river. Bridges of stone and iron
crossed the water, and on summer evenings people walked along the banks, talking and
eating ice cream while the boats went slowly up and down. In the old town the streets
were narrow and the houses were painted yellow, blue and red.

To plant a tree, dig a hole twice as wide as the roots and just as deep. Set the tree
in the hole, fill it with soil, and press the soil down with your hands. Water it well
and keep watering it every week during the first summer. In a few years it will give
shade, and in many years it will be older than the person who planted it.

The meeting started late because the projector did not work. Someone found the right
cable, the slides appeared on the wall, and the team talked about the next release:
faster loading, better memory use, fewer surprises for the people who run the service
at night. Everyone agreed that the tests should run on every change.
"""


# --------------------------------------------------------------------------------------
# Small helpers that need only torch / numpy (testable without transformers)
# --------------------------------------------------------------------------------------

def head_dim_of(spec):
    return spec["head_dim"] if spec["head_dim"] is not None else spec["hidden"] // spec["heads"]


def eos_list(spec):
    return spec["eos"] if isinstance(spec["eos"], list) else [spec["eos"]]


def rope_inv_freq64(spec, ignore_scaling=False):
    """RoPE inverse frequencies in float64, same formulas as transformers' ROPE_INIT_FUNCTIONS."""
    dim = head_dim_of(spec)
    base = float(spec["theta"])
    inv = 1.0 / (base ** (np.arange(0, dim, 2, dtype=np.float64) / dim))
    rope = spec["rope"]
    if rope is None or ignore_scaling:
        return inv
    rtype = rope["rope_type"]
    if rtype == "linear":
        return inv / float(rope["factor"])
    if rtype == "llama3":
        factor = float(rope["factor"])
        low = float(rope["low_freq_factor"])
        high = float(rope["high_freq_factor"])
        old_ctx = float(rope["original_max_position_embeddings"])
        low_wavelen = old_ctx / low
        high_wavelen = old_ctx / high
        wavelen = 2.0 * math.pi / inv
        inv_l = np.where(wavelen > low_wavelen, inv / factor, inv)
        smooth = (old_ctx / wavelen - low) / (high - low)
        smoothed = (1.0 - smooth) * inv_l / factor + smooth * inv_l
        medium = ~(wavelen < high_wavelen) & ~(wavelen > low_wavelen)
        return np.where(medium, smoothed, inv_l)
    raise ValueError("unsupported rope type " + rtype)


def rope_regimes(spec):
    """For llama3 scaling: which of the three regimes each frequency falls in."""
    rope = spec["rope"]
    if rope is None or rope["rope_type"] != "llama3":
        return None
    dim = head_dim_of(spec)
    inv = 1.0 / (float(spec["theta"]) ** (np.arange(0, dim, 2, dtype=np.float64) / dim))
    old_ctx = float(rope["original_max_position_embeddings"])
    wavelen = 2.0 * math.pi / inv
    out = []
    for w in wavelen:
        if w < old_ctx / rope["high_freq_factor"]:
            out.append("high(unscaled)")
        elif w > old_ctx / rope["low_freq_factor"]:
            out.append("low(divided)")
        else:
            out.append("medium(smoothed)")
    return out


def expected_tensor_names(spec):
    names = ["model.embed_tokens.weight", "model.norm.weight"]
    for i in range(spec["layers"]):
        p = "model.layers.%d." % i
        names += [p + "input_layernorm.weight", p + "post_attention_layernorm.weight"]
        names += [p + "self_attn.%s_proj.weight" % x for x in "qkvo"]
        names += [p + "mlp.%s_proj.weight" % x for x in ("gate", "up", "down")]
    if not spec["tie"]:
        names.append("lm_head.weight")
    return sorted(names)


def redraw_weights(model, seed):
    """Re-draw every parameter: N(0, 0.02) for matrices, 1 + 0.1 N(0, 1) for RMSNorm weights."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():  # deterministic order; tied weights once
            if p.ndim == 1:
                if "norm" not in name:
                    raise RuntimeError("unexpected 1-d parameter " + name)
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g, dtype=torch.float32))
            else:
                p.copy_(0.02 * torch.randn(p.shape, generator=g, dtype=torch.float32))


def manual_forward(sd, spec, ids, inv_freq):
    """Independent float64 Llama forward straight from safetensors tensors. Returns [T, vocab]."""
    W = {k: v.to(torch.float64) for k, v in sd.items()}
    H, KV, D = spec["heads"], spec["kv_heads"], head_dim_of(spec)
    eps = spec["eps"]
    T = len(ids)
    x = W["model.embed_tokens.weight"][torch.tensor(ids, dtype=torch.long)]
    pos = torch.arange(T, dtype=torch.float64)
    freqs = pos[:, None] * torch.as_tensor(inv_freq, dtype=torch.float64)[None, :]
    cos = torch.cat([freqs.cos(), freqs.cos()], dim=-1)  # [T, D]
    sin = torch.cat([freqs.sin(), freqs.sin()], dim=-1)
    mask = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)

    def rms(v, w):
        return w * (v * torch.rsqrt(v.pow(2).mean(-1, keepdim=True) + eps))

    def rot(t):  # [h, T, D], rotate-half convention
        t1, t2 = t[..., : D // 2], t[..., D // 2:]
        return t * cos + torch.cat([-t2, t1], dim=-1) * sin

    for i in range(spec["layers"]):
        p = "model.layers.%d." % i
        h = rms(x, W[p + "input_layernorm.weight"])
        q = (h @ W[p + "self_attn.q_proj.weight"].T).view(T, H, D).transpose(0, 1)
        k = (h @ W[p + "self_attn.k_proj.weight"].T).view(T, KV, D).transpose(0, 1)
        v = (h @ W[p + "self_attn.v_proj.weight"].T).view(T, KV, D).transpose(0, 1)
        q, k = rot(q), rot(k)
        k = k.repeat_interleave(H // KV, dim=0)
        v = v.repeat_interleave(H // KV, dim=0)
        s = (q @ k.transpose(1, 2)) / math.sqrt(D)
        s = s.masked_fill(mask, float("-inf"))
        a = torch.softmax(s, dim=-1)
        o = (a @ v).transpose(0, 1).reshape(T, H * D)
        x = x + o @ W[p + "self_attn.o_proj.weight"].T
        h = rms(x, W[p + "post_attention_layernorm.weight"])
        g = torch.nn.functional.silu(h @ W[p + "mlp.gate_proj.weight"].T)
        u = h @ W[p + "mlp.up_proj.weight"].T
        x = x + (g * u) @ W[p + "mlp.down_proj.weight"].T
    x = rms(x, W["model.norm.weight"])
    lm = W["lm_head.weight"] if "lm_head.weight" in W else W["model.embed_tokens.weight"]
    return x @ lm.T


def greedy_loop(forward, prompt, eos_ids, max_new=GREEDY_MAX_NEW):
    """Manual greedy decoding: full forward each step, argmax of the last position."""
    seq = list(prompt)
    out = []
    margins = []
    finish = "length"
    for _ in range(max_new):
        last = forward(seq)[-1]
        nxt = int(torch.argmax(last))
        top2 = torch.sort(last, descending=True).values[:2]
        margins.append(float(top2[0] - top2[1]))
        out.append(nxt)
        seq.append(nxt)
        if nxt in eos_ids:
            finish = "stop"
            break
    return out, finish, min(margins)


def seeded_input_ids(spec):
    rng = np.random.default_rng(spec["seed"] + 7)
    rest = rng.integers(3, spec["vocab"], size=SEQ_LEN - 1)
    return [spec["bos"]] + [int(t) for t in rest]


def dir_files(d):
    out = []
    for f in sorted(os.listdir(d)):
        out.append((f, os.path.getsize(os.path.join(d, f))))
    return out


def load_safetensors_dir(d):
    from safetensors.torch import load_file
    sd = {}
    for f in sorted(glob.glob(os.path.join(d, "*.safetensors"))):
        part = load_file(f)
        for k in part:
            if k in sd:
                raise RuntimeError("tensor %s in two shards" % k)
        sd.update(part)
    return sd


def write_json(path, obj, indent=2):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=indent, ensure_ascii=False, sort_keys=False)
        f.write("\n")


def warn(msg):
    print("WARNING: " + msg, flush=True)


# --------------------------------------------------------------------------------------
# float64 patches for transformers' Llama
# --------------------------------------------------------------------------------------

class Float64Llama:
    """Runs a transformers Llama in float64 without its float32 islands.

    RMSNorm and rotary-embedding modules get instance-level float64 forwards, and
    while active, softmax calls on float64 tensors that ask for dtype=float32 are
    kept in float64 (eager attention's softmax)."""

    def __init__(self, model, inv_freq64):
        self.model = model
        self.inv_freq = torch.as_tensor(inv_freq64, dtype=torch.float64)
        self.calls = {"rms": 0, "rope": 0, "softmax": 0, "softmax_upgraded": 0}
        self.n_rms = 0
        self.n_rope = 0
        self.rms_eps = set()
        for mod in model.modules():
            cname = type(mod).__name__
            if cname.endswith("RMSNorm"):
                mod.forward = self._rms_forward(mod)
                self.n_rms += 1
            elif cname.endswith("RotaryEmbedding"):
                mod.forward = self._rope_forward(mod)
                self.n_rope += 1

    def _rms_forward(self, mod):
        eps = getattr(mod, "variance_epsilon", None)
        if eps is None:
            eps = getattr(mod, "eps")
        self.rms_eps.add(float(eps))
        calls = self.calls

        def forward(hidden_states, *args, **kwargs):
            calls["rms"] += 1
            var = hidden_states.pow(2).mean(-1, keepdim=True)
            return mod.weight * (hidden_states * torch.rsqrt(var + eps))
        return forward

    def _rope_forward(self, mod):
        holder = self
        scaling = float(getattr(mod, "attention_scaling", 1.0) or 1.0)
        self.attention_scaling = scaling

        def forward(x, position_ids, *args, **kwargs):
            holder.calls["rope"] += 1
            pos = position_ids.to(torch.float64)
            freqs = pos[..., None] * holder.inv_freq.to(pos.device)[None, None, :]
            emb = torch.cat([freqs, freqs], dim=-1)
            return (emb.cos() * scaling).to(x.dtype), (emb.sin() * scaling).to(x.dtype)
        return forward

    def __enter__(self):
        calls = self.calls
        self._orig_F = torch.nn.functional.softmax
        self._orig_t = torch.softmax
        orig_F, orig_t = self._orig_F, self._orig_t

        def F_softmax(input, dim=None, _stacklevel=3, dtype=None):
            calls["softmax"] += 1
            if dtype is not None and input.dtype == torch.float64 and dtype != torch.float64:
                calls["softmax_upgraded"] += 1
                dtype = torch.float64
            return orig_F(input, dim=dim, _stacklevel=_stacklevel, dtype=dtype)

        def t_softmax(input, dim, dtype=None, **kwargs):
            calls["softmax"] += 1
            if dtype is not None and input.dtype == torch.float64 and dtype != torch.float64:
                calls["softmax_upgraded"] += 1
                dtype = torch.float64
            return orig_t(input, dim, dtype=dtype, **kwargs)

        torch.nn.functional.softmax = F_softmax
        torch.softmax = t_softmax
        return self

    def __exit__(self, *exc):
        torch.nn.functional.softmax = self._orig_F
        torch.softmax = self._orig_t
        return False

    def logits(self, ids):
        with self, torch.no_grad():
            out = self.model(input_ids=torch.tensor([list(ids)], dtype=torch.long), use_cache=False)
        lg = out.logits[0]
        if lg.dtype != torch.float64:
            raise RuntimeError("logits are %s, not float64" % lg.dtype)
        return lg


# --------------------------------------------------------------------------------------
# transformers-dependent steps
# --------------------------------------------------------------------------------------

def make_config(spec):
    from transformers import LlamaConfig
    rope_parameters = {"rope_type": "default", "rope_theta": float(spec["theta"])}
    if spec["rope"] is not None:
        rope_parameters.update(spec["rope"])
    kw = dict(
        vocab_size=spec["vocab"],
        hidden_size=spec["hidden"],
        intermediate_size=spec["intermediate"],
        num_hidden_layers=spec["layers"],
        num_attention_heads=spec["heads"],
        num_key_value_heads=spec["kv_heads"],
        hidden_act="silu",
        max_position_embeddings=spec["max_pos"],
        initializer_range=0.02,
        rms_norm_eps=spec["eps"],
        use_cache=True,
        bos_token_id=spec["bos"],
        eos_token_id=spec["eos"],
        tie_word_embeddings=spec["tie"],
        attention_bias=False,
        mlp_bias=False,
        rope_parameters=rope_parameters,
    )
    if spec["head_dim"] is not None:
        kw["head_dim"] = spec["head_dim"]
    return LlamaConfig(**kw)


def classic_config(saved, spec):
    """Rewrite a transformers-5 config dict into the classic (transformers 4) form."""
    out = {}
    for k, v in saved.items():
        if k in ("rope_parameters", "rope_scaling", "rope_theta", "dtype", "torch_dtype", "head_dim"):
            continue
        out[k] = v
    out["torch_dtype"] = spec["dtype"]
    out["rope_theta"] = float(spec["theta"])
    rope = spec["rope"]
    if rope is None:
        out["rope_scaling"] = None
    elif rope["rope_type"] == "linear":
        # the oldest spelling ("type"), as in Llama-2 era linear-scaled checkpoints
        out["rope_scaling"] = {"factor": float(rope["factor"]), "type": "linear"}
    else:
        out["rope_scaling"] = dict(rope)
    if spec["head_dim"] is not None:
        out["head_dim"] = spec["head_dim"]
    return dict(sorted(out.items()))


def check_loaded_config(cfg, spec):
    problems = []
    rp = getattr(cfg, "rope_parameters", None)
    if rp is None:
        rp = getattr(cfg, "rope_scaling", None) or {}
        theta = getattr(cfg, "rope_theta", None)
    else:
        theta = rp.get("rope_theta", getattr(cfg, "rope_theta", None))
    if theta is None or abs(float(theta) - spec["theta"]) > 0:
        problems.append("rope_theta %r != %r" % (theta, spec["theta"]))
    rtype = rp.get("rope_type", rp.get("type", "default")) if rp else "default"
    want = spec["rope"]["rope_type"] if spec["rope"] else "default"
    if rtype != want:
        problems.append("rope_type %r != %r" % (rtype, want))
    if spec["rope"]:
        for k, v in spec["rope"].items():
            if k != "rope_type" and float(rp.get(k, float("nan"))) != float(v):
                problems.append("rope %s %r != %r" % (k, rp.get(k), v))
    checks = [
        ("vocab_size", spec["vocab"]), ("hidden_size", spec["hidden"]),
        ("intermediate_size", spec["intermediate"]), ("num_hidden_layers", spec["layers"]),
        ("num_attention_heads", spec["heads"]), ("num_key_value_heads", spec["kv_heads"]),
        ("head_dim", head_dim_of(spec)), ("rms_norm_eps", spec["eps"]),
        ("tie_word_embeddings", spec["tie"]), ("max_position_embeddings", spec["max_pos"]),
        ("bos_token_id", spec["bos"]), ("eos_token_id", spec["eos"]),
    ]
    for k, v in checks:
        got = getattr(cfg, k, None)
        if got != v:
            problems.append("%s %r != %r" % (k, got, v))
    return problems


def train_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=TOKENIZER_VOCAB,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        min_frequency=1,
        show_progress=False,
    )
    lines = [l for l in TRAINING_TEXT.split("\n")]
    tok.train_from_iterator(lines, trainer=trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A",
        pair="<s> $A <s> $B",
        special_tokens=[("<s>", 0)],
    )
    if tok.get_vocab_size() != TOKENIZER_VOCAB:
        raise RuntimeError("tokenizer vocab is %d, not %d" % (tok.get_vocab_size(), TOKENIZER_VOCAB))
    for i, t in enumerate(SPECIAL_TOKENS):
        if tok.token_to_id(t) != i:
            raise RuntimeError("special token %s has id %r" % (t, tok.token_to_id(t)))
    for text in TEXT_CASES:
        ids = tok.encode(text).ids
        back = tok.decode(ids, skip_special_tokens=True)
        if ids[0] != 0:
            raise RuntimeError("encode(%r) does not start with <s>" % text)
        if back != text:
            warn("tokenizer round trip %r -> %r" % (text, back))
    return tok


def save_tokenizer(tok, d):
    tok.save(os.path.join(d, "tokenizer.json"))
    write_json(os.path.join(d, "tokenizer_config.json"), {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": "<s>",
        "eos_token": "</s>",
        "model_max_length": 1024,
        "clean_up_tokenization_spaces": False,
    })
    write_json(os.path.join(d, "generation_config.json"), GENERATION_CONFIG)


def build_and_save(spec, d, tok):
    from transformers import LlamaForCausalLM
    if os.path.exists(d):
        shutil.rmtree(d)
    os.makedirs(d)
    torch.manual_seed(spec["seed"])
    np.random.seed(spec["seed"])
    cfg = make_config(spec)
    print("  in-memory config rope_parameters: %r" % (getattr(cfg, "rope_parameters", None),))
    model = LlamaForCausalLM(cfg)
    model.eval()
    redraw_weights(model, spec["seed"] + 1)
    if spec["tie"]:
        if model.lm_head.weight.data_ptr() != model.model.embed_tokens.weight.data_ptr():
            raise RuntimeError("lm_head is not tied to embed_tokens")
    model.to(TORCH_DTYPES[spec["dtype"]])
    n_params = sum(p.numel() for p in model.parameters())

    kwargs = {}
    sig = inspect.signature(model.save_pretrained).parameters
    if "safe_serialization" in sig:
        kwargs["safe_serialization"] = True
    if spec["shard"]:
        kwargs["max_shard_size"] = spec["shard"]
    model.save_pretrained(d, **kwargs)

    cfg_path = os.path.join(d, "config.json")
    if not os.path.exists(cfg_path):
        warn("save_pretrained wrote no config.json; writing it with config.save_pretrained")
        model.config.save_pretrained(d)
    with open(cfg_path, encoding="utf-8") as f:
        saved = json.load(f)
    print("  config.json as transformers %s wrote it:" % __import__("transformers").__version__)
    print("    " + json.dumps(saved, sort_keys=True).replace("\n", "\n    "))
    if spec["form"] == "classic":
        classic = classic_config(saved, spec)
        write_json(cfg_path, classic)
        print("  rewritten to classic form:")
        print("    " + json.dumps(classic, sort_keys=True))
    else:
        if "rope_parameters" not in saved:
            warn("transformers did not write rope_parameters")
        if "dtype" not in saved:
            warn("transformers did not write dtype")
        if "rope_theta" in saved or "rope_scaling" in saved or "torch_dtype" in saved:
            warn("transformers wrote classic keys too")
        if saved.get("dtype", saved.get("torch_dtype")) != spec["dtype"]:
            warn("saved dtype %r != %r; fixing" % (saved.get("dtype"), spec["dtype"]))
            saved["dtype"] = spec["dtype"]
            write_json(cfg_path, saved)

    if tok is not None:
        save_tokenizer(tok, d)

    # what landed on disk
    st_files = sorted(glob.glob(os.path.join(d, "*.safetensors")))
    if spec["shard"]:
        if len(st_files) < 2 or not os.path.exists(os.path.join(d, "model.safetensors.index.json")):
            raise RuntimeError("expected >= 2 shards and an index, got %r" % st_files)
    sd = load_safetensors_dir(d)
    names = sorted(sd)
    want = expected_tensor_names(spec)
    extra = sorted(set(names) - set(want))
    missing = sorted(set(want) - set(names))
    if missing:
        raise RuntimeError("missing tensors %r" % missing)
    if extra:
        warn("extra tensors on disk: %r" % extra)
    dtypes = sorted(set(str(t.dtype) for t in sd.values()))
    print("  safetensors: %d file(s), %d tensors, dtypes %s" % (len(st_files), len(names), dtypes))
    if dtypes != [str(TORCH_DTYPES[spec["dtype"]])]:
        raise RuntimeError("saved tensor dtypes %r" % dtypes)
    return model, n_params, sd


def reference_for(spec, d, model, sd, tok):
    import transformers
    from transformers import LlamaForCausalLM
    m = LlamaForCausalLM.from_pretrained(d, attn_implementation="eager")
    m.to(torch.float64)
    m.eval()
    impl = getattr(m.config, "_attn_implementation", None)
    if impl != "eager":
        warn("attention implementation is %r" % impl)
    problems = check_loaded_config(m.config, spec)
    for p in problems:
        warn("loaded config: " + p)
    print("  loaded config rope_parameters: %r" % (getattr(m.config, "rope_parameters", None),))

    # the reloaded weights must be exactly the saved ones
    orig = model.state_dict()
    loaded = m.state_dict()
    for k, v in orig.items():
        if k not in loaded:
            raise RuntimeError("reloaded model lacks " + k)
        if not torch.equal(loaded[k], v.to(torch.float64)):
            raise RuntimeError("reloaded weight %s differs from the saved one" % k)
        if k in sd and not torch.equal(sd[k].to(torch.float64), v.to(torch.float64)):
            raise RuntimeError("safetensors weight %s differs" % k)

    # RoPE frequencies: ours (float64) against transformers' (computed in float32)
    inv64 = rope_inv_freq64(spec)
    hf_inv = None
    for mod in m.modules():
        if type(mod).__name__.endswith("RotaryEmbedding"):
            hf_inv = mod.inv_freq.detach().to(torch.float64).cpu().numpy()
            break
    if hf_inv is None or hf_inv.shape != inv64.shape:
        raise RuntimeError("no usable inv_freq in the transformers model: %r" % (hf_inv,))
    inv_rel = float(np.max(np.abs(hf_inv - inv64) / inv64))
    print("  inv_freq float64 vs transformers: max rel diff %.3e" % inv_rel)
    if inv_rel > 1e-5:
        warn("inv_freq disagrees with transformers (kept ours): ours %r, transformers %r"
             % (inv64.tolist(), hf_inv.tolist()))
    regimes = rope_regimes(spec)
    if regimes:
        print("  llama3 regimes: %s" % regimes)

    ids = seeded_input_ids(spec)
    ids_t = torch.tensor([ids], dtype=torch.long)
    with torch.no_grad():
        stock = m(input_ids=ids_t, use_cache=False).logits[0]
    if stock.dtype != torch.float64:
        raise RuntimeError("stock logits are %s" % stock.dtype)

    f64 = Float64Llama(m, inv64)
    if f64.n_rope != 1 or f64.n_rms != 2 * spec["layers"] + 1:
        warn("patched %d rotary and %d RMSNorm modules" % (f64.n_rope, f64.n_rms))
    if f64.rms_eps != {float(spec["eps"])}:
        warn("RMSNorm eps %r" % f64.rms_eps)
    logits = f64.logits(ids)
    print("  patch calls (one forward): %r" % f64.calls)
    if f64.calls["softmax"] < spec["layers"]:
        warn("softmax patch saw %d calls for %d layers" % (f64.calls["softmax"], spec["layers"]))

    manual = manual_forward(sd, spec, ids, inv64)
    max_abs = float(logits.abs().max())
    d_manual = float((logits - manual).abs().max())
    d_stock = float((logits - stock).abs().max())
    print("  max|logit| %.6g; patched-vs-independent %.3e; patched-vs-stock %.3e"
          % (max_abs, d_manual, d_stock))
    if d_manual > 1e-10 * max(1.0, max_abs):
        warn("transformers float64 and the independent float64 forward disagree by %.3e" % d_manual)

    # sensitivity: how much the logits move when RoPE (scaling) is left out
    sens = {}
    saved_inv = f64.inv_freq
    f64.inv_freq = torch.zeros_like(saved_inv)
    sens["max_abs_logit_change_without_rope"] = float((f64.logits(ids) - logits).abs().max())
    if spec["rope"] is not None:
        f64.inv_freq = torch.as_tensor(rope_inv_freq64(spec, ignore_scaling=True))
        sens["max_abs_logit_change_without_rope_scaling"] = float((f64.logits(ids) - logits).abs().max())
    f64.inv_freq = saved_inv
    print("  sensitivity: %r" % sens)

    eos = set(eos_list(spec))
    prompt = ids[:GREEDY_PROMPT_LEN]
    out_ids, finish, margin = greedy_loop(f64.logits, prompt, eos)
    out_m, finish_m, _ = greedy_loop(lambda s: manual_forward(sd, spec, s, inv64), prompt, eos)
    if out_m != out_ids:
        warn("greedy differs between transformers and the independent forward")
    print("  greedy: %s %r (min top-2 margin %.3e)" % (finish, out_ids, margin))

    ref = {
        "name": spec["name"],
        "weights_dtype": spec["dtype"],
        "input_ids": ids,
        "logits_positions": LOGITS_POSITIONS,
        "logits": [[float(x) for x in logits[p].tolist()] for p in LOGITS_POSITIONS],
        "greedy": {
            "input_ids": prompt,
            "output_ids": out_ids,
            "finish_reason": finish,
            "min_top2_margin": margin,
        },
    }
    if tok is not None:
        cases = []
        for text in TEXT_CASES:
            cases.append({"text": text, "ids": tok.encode(text).ids})
        ref["text_cases"] = cases
        p_ids = tok.encode(GREEDY_TEXT_PROMPT).ids
        g_ids, g_finish, g_margin = greedy_loop(f64.logits, p_ids, eos)
        ref["greedy_text"] = {
            "prompt": GREEDY_TEXT_PROMPT,
            "input_ids": p_ids,
            "output_ids": g_ids,
            "finish_reason": g_finish,
            "min_top2_margin": g_margin,
            "text": tok.decode(g_ids, skip_special_tokens=True),
        }
        print("  greedy_text: %r -> %r (%s)" % (GREEDY_TEXT_PROMPT, ref["greedy_text"]["text"], g_finish))
        try:
            from transformers import AutoTokenizer
            at = AutoTokenizer.from_pretrained(d)
            for c in cases:
                got = at(c["text"])["input_ids"]
                if got != c["ids"]:
                    warn("AutoTokenizer gives %r for %r, tokenizers gives %r" % (got, c["text"], c["ids"]))
            print("  AutoTokenizer loads as %s" % type(at).__name__)
        except Exception as e:  # informational only
            warn("AutoTokenizer check failed: %r" % (e,))

    ref["expected_config"] = {
        "vocab_size": spec["vocab"], "hidden_size": spec["hidden"],
        "intermediate_size": spec["intermediate"], "num_hidden_layers": spec["layers"],
        "num_attention_heads": spec["heads"], "num_key_value_heads": spec["kv_heads"],
        "head_dim": head_dim_of(spec), "rms_norm_eps": spec["eps"],
        "rope_theta": spec["theta"], "rope_scaling": spec["rope"],
        "max_position_embeddings": spec["max_pos"], "tie_word_embeddings": spec["tie"],
        "bos_token_id": spec["bos"], "eos_token_ids": eos_list(spec),
        "config_form": spec["form"],
    }
    ref["rope_inv_freq"] = [float(x) for x in inv64]
    ref["checks"] = {
        "max_abs_logit": max_abs,
        "max_abs_diff_vs_independent_float64": d_manual,
        "max_abs_diff_vs_stock_transformers_float64": d_stock,
        "transformers_inv_freq_max_rel_diff": inv_rel,
    }
    ref["checks"].update(sens)
    ref["generated_by"] = {
        "script": "scripts/make_reference_fixtures.py",
        "transformers": transformers.__version__,
        "torch": torch.__version__,
    }
    ref["notes"] = (
        "logits: one forward over all input_ids; row i is the logits at input position "
        "logits_positions[i]. greedy/greedy_text output_ids hold only the new tokens (an eos "
        "id, if hit, is the last one). text_cases ids include the leading <s> that the "
        "post-processor adds. Reference numerics: transformers LlamaForCausalLM (eager "
        "attention) in float64 with its float32 RMSNorm, RoPE and softmax replaced by float64; "
        "checks.max_abs_diff_vs_stock_transformers_float64 is how far stock transformers is."
    )
    write_json(os.path.join(d, "reference.json"), ref, indent=1)
    return ref


def write_fixtures_readme(out_dir):
    lines = [
        "# Reference fixtures",
        "",
        "Made by `python3 scripts/make_reference_fixtures.py --out engine/src/test/fixtures`",
        "(random weights, seeded; see the script's docstring). Each directory is a Hugging Face",
        "checkpoint plus `reference.json` with float64 transformers logits, a greedy continuation",
        "and, where there is a tokenizer, tokenizations.",
        "",
        "| fixture | what it exercises |",
        "| --- | --- |",
        "| tiny-mha-f32 | MHA, float32, classic config (`rope_theta`, `rope_scaling: null`, `torch_dtype`), no `head_dim` |",
        "| tiny-gqa-bf16-llama3 | GQA 8/2, bfloat16, llama3 RoPE scaling (all three regimes), tied embeddings (no `lm_head.weight`), eos list, transformers-5 config (`rope_parameters`, `dtype`), byte-level BPE tokenizer |",
        "| tiny-headdim-linear-f32-sharded | head_dim 32 != 96/4, GQA 4/2, linear RoPE scaling (legacy `type` key), sharded safetensors + index |",
        "| tiny-mqa-f16-hd128 | MQA (1 kv head), head_dim 128 != 128/4, float16 |",
        "",
    ]
    with open(os.path.join(out_dir, "README.md"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="directory for the fixture subdirectories")
    ap.add_argument("--only", action="append", help="make only this fixture (repeatable)")
    args = ap.parse_args(argv)

    import transformers
    import tokenizers
    import safetensors
    print("torch %s, transformers %s, tokenizers %s, safetensors %s, numpy %s"
          % (torch.__version__, transformers.__version__, tokenizers.__version__,
             safetensors.__version__, np.__version__))
    torch.set_num_threads(1)  # single-threaded CPU reductions: bit-identical reruns

    os.makedirs(args.out, exist_ok=True)
    tok = train_tokenizer()
    print("tokenizer: vocab %d, merges learned %d" % (tok.get_vocab_size(), tok.get_vocab_size() - 259))
    for text in TEXT_CASES:
        print("  %r -> %r" % (text, tok.encode(text).ids))

    summary = []
    failed = []
    for spec in FIXTURES:
        if args.only and spec["name"] not in args.only:
            continue
        d = os.path.join(args.out, spec["name"])
        print("== %s -> %s" % (spec["name"], d))
        try:
            use_tok = tok if spec["tokenizer"] else None
            model, n_params, sd = build_and_save(spec, d, use_tok)
            ref = reference_for(spec, d, model, sd, use_tok)
            summary.append((spec["name"], n_params, ref, dir_files(d)))
        except Exception:
            traceback.print_exc()
            failed.append(spec["name"])
    if not args.only:
        write_fixtures_readme(args.out)

    print()
    print("==================== summary ====================")
    grand = 0
    for name, n_params, ref, files in summary:
        total = sum(s for _, s in files)
        grand += total
        c = ref["checks"]
        print("%s: %d params, %d bytes, max|logit| %.6g, vs-independent %.2e, vs-stock-transformers %.2e, "
              "no-rope change %.3e%s, greedy %s (%d new)"
              % (name, n_params, total, c["max_abs_logit"], c["max_abs_diff_vs_independent_float64"],
                 c["max_abs_diff_vs_stock_transformers_float64"], c["max_abs_logit_change_without_rope"],
                 (", no-scaling change %.3e" % c["max_abs_logit_change_without_rope_scaling"])
                 if "max_abs_logit_change_without_rope_scaling" in c else "",
                 ref["greedy"]["finish_reason"], len(ref["greedy"]["output_ids"])))
        for f, s in files:
            print("    %-40s %9d" % (f, s))
    print("fixtures total: %d bytes" % grand)
    if failed:
        print("FAILED: %s" % failed)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
