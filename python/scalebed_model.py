"""A scalebed model in plain PyTorch, from a folder that `trainer export` wrote.

    from scalebed_model import load
    model = load("exported/")           # model.safetensors + config.json
    logits = model(tokens)              # tokens (B, T) int64 -> (B, T, vocab_out) fp32

One file, no dependency beyond torch: it builds the backbone of model.md
(pre-norm transformer, (1 + w) RMSNorm gains, QK-norm over the full width,
NeoX RoPE, ReLU^2 MLP with biases, optional attention-logit soft-cap and
attention-sink slot, untied head, the CompleteP residual and head multipliers)
from config.json, reads the safetensors file itself, and returns the logits the
trainer computes (fp32; tests/test_export.cpp checks them against the trainer's
to 1e-5). For a diffusion model, feed noised tokens (config.json's
objective.mask_id is the mask token) and read the denoiser's logits over the
data vocabulary. Command line: `python scalebed_model.py DIR [TOKEN ...]`
prints the logits' shape and the argmax of each position.
"""
import json
import math
import struct
import sys
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

FORMAT_VERSION = 1
_DTYPES = {"F32": torch.float32, "BF16": torch.bfloat16, "F16": torch.float16, "I64": torch.int64}


def read_safetensors(path):
    """name -> tensor, and the header's __metadata__ (a dict of strings)."""
    data = Path(path).read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    metadata = header.pop("__metadata__", {})
    tensors = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        buf = bytearray(data[8 + n + begin:8 + n + end])
        t = torch.frombuffer(buf, dtype=_DTYPES[info["dtype"]]) if buf else torch.empty(0)
        tensors[name] = t.reshape(info["shape"])
    return tensors, metadata


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(dim))
        self.eps = eps

    def forward(self, x):
        x32 = x.float()
        normed = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)
        return (normed * (1.0 + self.weight.float())).to(x.dtype)


def rope(x, cos, sin):  # x (B, H, T, Dh); cos/sin (T, Dh/2); NeoX halves, fp32
    half = x.shape[-1] // 2
    x32 = x.float()
    x1, x2 = x32[..., :half], x32[..., half:]
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], -1).to(x.dtype)


class Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, self.heads, self.c = c["d_model"], c["heads"], c
        self.q, self.k, self.v, self.o = (nn.Linear(d, d, bias=False) for _ in range(4))
        if c["qk_norm"]:
            self.q_norm, self.k_norm = RMSNorm(d, c["norm_eps"]), RMSNorm(d, c["norm_eps"])
        if c["attention_sink"]:
            self.sink_key = nn.Parameter(torch.zeros(self.heads, c["head_dim"]))
            self.sink_value = nn.Parameter(torch.zeros(self.heads, c["head_dim"]))

    def forward(self, x, cos, sin):
        B, T, _ = x.shape
        H, Dh, c = self.heads, self.c["head_dim"], self.c
        q, k, v = self.q(x), self.k(x), self.v(x)
        if c["qk_norm"]:
            q, k = self.q_norm(q), self.k_norm(k)
        split = lambda t: t.view(B, T, H, Dh).transpose(1, 2)  # noqa: E731
        q, k, v = rope(split(q), cos, sin), rope(split(k), cos, sin), split(v)
        allowed = torch.ones(T, T, dtype=torch.bool, device=x.device)
        if c["causal"]:
            allowed = allowed.tril()
        if c["attention_sink"]:  # one slot before the sequence, visible to all, not rotated
            k = torch.cat([self.sink_key.view(1, H, 1, Dh).expand(B, H, 1, Dh), k], 2)
            v = torch.cat([self.sink_value.view(1, H, 1, Dh).expand(B, H, 1, Dh), v], 2)
            allowed = torch.cat([torch.ones(T, 1, dtype=torch.bool, device=x.device), allowed], 1)
        scores = (q @ k.transpose(-2, -1)).float() / math.sqrt(Dh)
        if c["soft_cap"] > 0:
            scores = c["soft_cap"] * torch.tanh(scores / c["soft_cap"])
        scores = scores.masked_fill(~allowed, float("-inf"))
        out = torch.softmax(scores, -1).to(v.dtype) @ v  # (B, H, T, Dh)
        return self.o(out.transpose(1, 2).reshape(B, T, H * Dh))


class Mlp(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, hidden = c["d_model"], c["mlp_ratio"] * c["d_model"]
        self.up, self.down = nn.Linear(d, hidden), nn.Linear(hidden, d)

    def forward(self, x):
        return self.down(F.relu(self.up(x)).square())


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.attn_norm, self.attn = RMSNorm(c["d_model"], c["norm_eps"]), Attention(c)
        self.mlp_norm, self.mlp = RMSNorm(c["d_model"], c["norm_eps"]), Mlp(c)
        self.residual_scale = c["residual_scale"]

    def forward(self, x, cos, sin):
        x = x + self.residual_scale * self.attn(self.attn_norm(x), cos, sin)
        return x + self.residual_scale * self.mlp(self.mlp_norm(x))


class ScalebedModel(nn.Module):
    def __init__(self, config):
        super().__init__()
        c = config["model"]
        self.config = config
        self.embed = nn.Embedding(c["vocab_in"], c["d_model"])
        self.blocks = nn.ModuleList(Block(c) for _ in range(c["layers"]))
        self.final_norm = RMSNorm(c["d_model"], c["norm_eps"])
        self.head = nn.Linear(c["d_model"], c["vocab_out"], bias=False)
        self.head_scale = c["head_scale"]
        half = c["head_dim"] // 2
        inv_freq = c["rope_theta"] ** (-torch.arange(0, half, dtype=torch.float64) * 2.0 / c["head_dim"])
        angles = torch.outer(torch.arange(c["context"], dtype=torch.float64), inv_freq)
        self.register_buffer("rope_cos", angles.cos().float(), persistent=False)
        self.register_buffer("rope_sin", angles.sin().float(), persistent=False)

    def forward(self, tokens):  # (B, T) int64 -> (B, T, vocab_out) fp32
        T = tokens.shape[1]
        if T > self.config["model"]["context"]:
            raise ValueError(f"{T} tokens exceed the context of {self.config['model']['context']}")
        cos, sin = self.rope_cos[:T], self.rope_sin[:T]
        x = self.embed(tokens)
        for block in self.blocks:
            x = block(x, cos, sin)
        logits = self.head(self.final_norm(x)).float()
        return logits if self.head_scale == 1.0 else logits * self.head_scale


def load(folder, device="cpu"):
    """The exported model in eval mode, weights from model.safetensors."""
    folder = Path(folder)
    config = json.loads((folder / "config.json").read_text())
    if config.get("format") != "scalebed" or config.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{folder}/config.json: not a scalebed export of format version "
                         f"{FORMAT_VERSION} (found {config.get('format')!r} "
                         f"{config.get('format_version')!r})")
    tensors, metadata = read_safetensors(folder / "model.safetensors")
    if metadata.get("format_version") != str(FORMAT_VERSION):
        raise ValueError(f"{folder}/model.safetensors: format version {metadata.get('format_version')!r}")
    model = ScalebedModel(config)
    missing, unexpected = model.load_state_dict(tensors, strict=False)
    if missing or unexpected:
        raise ValueError(f"{folder}/model.safetensors: missing {missing}, unexpected {unexpected}")
    return model.to(device).eval()


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: scalebed_model.py EXPORT_DIR [TOKEN ...]")
    m = load(sys.argv[1])
    ids = [int(t) for t in sys.argv[2:]] or [0, 1, 2, 3]
    with torch.no_grad():
        out = m(torch.tensor([ids]))
    print("logits", tuple(out.shape), "argmax", out[0].argmax(-1).tolist())
