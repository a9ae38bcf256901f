"""The scalebed backbone in plain PyTorch, timed: the reference that
bench/gpu_check.sh sets scalebed's bench_train beside (same shape, same
tokens per step, bf16 autocast, AR cross-entropy, AdamW), in eager mode and
under torch.compile.

The model is model.md's backbone as src/model/transformer.cpp builds it:
(1 + w) RMSNorm, QK-norm over the full width, NeoX RoPE, attention with a
logit soft-cap and a learned sink slot (explicit softmax: PyTorch's fused
kernels cannot soft-cap), ReLU² MLP with biases, untied head with an output
multiplier. Prints tokens/s, TFLOP/s under the PaLM convention
(6·N_matmul + 12·L·d·T per token) and MFU against --peak-tflops.

  python3 bench/pytorch_reference.py --layers 8 --d-model 512 --heads 8 \
      --context 2048 --vocab 131072 --batch 8 --steps 10 [--compile] [--device cuda]
"""
import argparse
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class RMSNorm(nn.Module):
    def __init__(self, dim, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(dim))
        self.eps = eps

    def forward(self, x):
        x32 = x.float()
        normed = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)
        return (normed * (1.0 + self.weight.float())).to(x.dtype)


def rope(x, cos, sin):  # x (B, H, T, Dh), NeoX halves
    half = x.shape[-1] // 2
    x32 = x.float()
    x1, x2 = x32[..., :half], x32[..., half:]
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], -1).to(x.dtype)


class Block(nn.Module):
    def __init__(self, d, heads, soft_cap, residual_scale):
        super().__init__()
        self.heads, self.soft_cap, self.residual_scale = heads, soft_cap, residual_scale
        self.attn_norm, self.mlp_norm = RMSNorm(d), RMSNorm(d)
        self.q, self.k, self.v, self.o = (nn.Linear(d, d, bias=False) for _ in range(4))
        self.q_norm, self.k_norm = RMSNorm(d), RMSNorm(d)
        dh = d // heads
        self.sink_key = nn.Parameter(torch.zeros(heads, dh))
        self.sink_value = nn.Parameter(torch.zeros(heads, dh))
        self.up, self.down = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    def attention(self, x, cos, sin, causal):
        B, T, d = x.shape
        H, Dh = self.heads, d // self.heads
        split = lambda t: t.view(B, T, H, Dh).transpose(1, 2)
        q = rope(split(self.q_norm(self.q(x))), cos, sin)
        k = rope(split(self.k_norm(self.k(x))), cos, sin)
        v = split(self.v(x))
        keys = torch.cat([self.sink_key.view(1, H, 1, Dh).expand(B, H, 1, Dh).to(k.dtype), k], 2)
        values = torch.cat([self.sink_value.view(1, H, 1, Dh).expand(B, H, 1, Dh).to(v.dtype), v], 2)
        scores = (q @ keys.transpose(-2, -1)).float() / math.sqrt(Dh)
        scores = self.soft_cap * torch.tanh(scores / self.soft_cap)
        if causal:
            allowed = torch.ones(T, T + 1, dtype=torch.bool, device=x.device).tril(1)
            scores = scores.masked_fill(~allowed, float("-inf"))
        out = torch.softmax(scores, -1).to(values.dtype) @ values
        return self.o(out.transpose(1, 2).reshape(B, T, d))

    def forward(self, x, cos, sin, causal):
        h = x + self.residual_scale * self.attention(self.attn_norm(x), cos, sin, causal)
        return h + self.residual_scale * self.down(F.relu(self.up(self.mlp_norm(h))).square())


class Transformer(nn.Module):
    def __init__(self, layers, d, heads, context, vocab, soft_cap=30.0, causal=True):
        super().__init__()
        self.causal = causal
        self.embed = nn.Embedding(vocab, d)
        self.blocks = nn.ModuleList(Block(d, heads, soft_cap, 4.0 / layers) for _ in range(layers))
        self.final_norm = RMSNorm(d)
        self.head = nn.Linear(d, vocab, bias=False)
        nn.init.zeros_(self.head.weight)  # CompleteP's zero-initialised head
        self.head_scale = 512.0 / d
        dh = d // heads
        inv = 10000.0 ** (-torch.arange(0, dh // 2, dtype=torch.float64) * 2 / dh)
        angles = torch.outer(torch.arange(context, dtype=torch.float64), inv)
        self.register_buffer("cos", angles.cos().float(), persistent=False)
        self.register_buffer("sin", angles.sin().float(), persistent=False)

    def forward(self, tokens):
        T = tokens.shape[1]
        x = self.embed(tokens)
        for block in self.blocks:
            x = block(x, self.cos[:T], self.sin[:T], self.causal)
        return self.head(self.final_norm(x)).float() * self.head_scale


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--d-model", type=int, default=64)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--context", type=int, default=64)
    ap.add_argument("--vocab", type=int, default=256)
    ap.add_argument("--batch", type=int, default=8, help="sequences per step")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--precision", choices=["bf16", "fp32"], default="bf16")
    ap.add_argument("--compile", action="store_true", help="torch.compile the model")
    ap.add_argument("--peak-tflops", type=float, default=0.0)
    a = ap.parse_args()

    torch.manual_seed(0)
    dev = torch.device(a.device)
    model = Transformer(a.layers, a.d_model, a.heads, a.context, a.vocab).to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=dev.type == "cuda")
    step_model = torch.compile(model) if a.compile else model
    tokens = torch.randint(0, a.vocab, (a.batch, a.context + 1), device=dev)

    def step():
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=a.precision == "bf16"):
            logits = step_model(tokens[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, a.vocab), tokens[:, 1:].reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss

    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    for _ in range(a.warmup):
        step()
    sync()
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(a.steps):
        loss = step()
    sync()
    seconds = time.perf_counter() - start

    d, L, T, V = a.d_model, a.layers, a.context, a.vocab
    non_embedding = sum(p.numel() for n, p in model.named_parameters()
                        if not n.startswith(("embed", "head")))
    palm = 6.0 * (non_embedding + V * d) + 12.0 * L * d * T
    tokens_per_s = a.steps * a.batch * T / seconds
    mode = "torch.compile" if a.compile else "eager"
    print(f"pytorch {mode}: L{L} d{d} h{a.heads} T{T} V{V}, batch {a.batch}, {a.precision}, "
          f"{a.device} ({torch.__version__})")
    print(f"steps          {a.steps} timed after {a.warmup}, {1e3 * seconds / a.steps:.2f} ms/step, "
          f"last loss {loss.item():.4f}")
    print(f"tokens/s       {tokens_per_s:.1f}")
    print(f"TFLOP/s        {tokens_per_s * palm / 1e12:.4f} (PaLM: {palm:.4g} FLOPs/token)")
    if a.peak_tflops > 0:
        print(f"MFU            {100 * tokens_per_s * palm / 1e12 / a.peak_tflops:.2f}% of {a.peak_tflops:g}")
    if dev.type == "cuda":
        print(f"peak memory    {torch.cuda.max_memory_allocated() / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
