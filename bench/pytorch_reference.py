"""The scalebed backbone in plain PyTorch, timed: the reference that
bench/gpu_check.sh sets scalebed's bench_train beside (same shape, same
tokens per step, bf16 autocast, AR cross-entropy, AdamW), in eager mode and
under torch.compile.

The model is python/scalebed_model.py's (the loader of exported runs, tested
against the trainer's logits): model.md's backbone with (1 + w) RMSNorm,
QK-norm over the full width, NeoX RoPE, attention with a logit soft-cap and
a learned sink slot (explicit softmax: PyTorch's fused kernels cannot
soft-cap), ReLU² MLP with biases, untied zero-initialised head with
CompleteP's output multiplier. Prints tokens/s, TFLOP/s under the PaLM convention
(6·N_matmul + 12·L·d·T per token) and MFU against --peak-tflops.

  python3 bench/pytorch_reference.py --layers 8 --d-model 512 --heads 8 \
      --context 2048 --vocab 131072 --batch 8 --steps 10 [--compile] [--device cuda]
"""
import argparse
import sys
import time
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "python"))
from scalebed_model import ScalebedModel  # noqa: E402


def transformer(layers, d, heads, context, vocab, soft_cap=30.0, causal=True):
    """The backbone at the paper presets' settings (CompleteP at d_base 1,
    L_base 4, head_base 512; rope 10000; QK-norm and sink on)."""
    model = ScalebedModel({"model": {
        "layers": layers, "d_model": d, "heads": heads, "head_dim": d // heads,
        "context": context, "mlp_ratio": 4, "vocab_in": vocab, "vocab_out": vocab,
        "causal": causal, "qk_norm": True, "attention_sink": True, "soft_cap": soft_cap,
        "rope_theta": 10000.0, "norm_eps": 1e-6, "residual_scale": 4.0 / layers,
        "head_scale": 512.0 / d}})
    nn.init.zeros_(model.head.weight)  # CompleteP's zero-initialised head
    return model


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
    model = transformer(a.layers, a.d_model, a.heads, a.context, a.vocab).to(dev)
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
