"""The CodeFusion network: encoder E, denoiser N, decoder D, head H and code embedding L.

Training step (``CodeFusion.loss``): embed the code ``x0 = L(y)``, noise it to ``x_t``, let N
(self-attention over ``x_t``, cross-attention to ``E(utterance)``, time embedding) predict
``x̂0``; D (self + cross attention) maps ``x̂0`` to ``D(x̂0)`` which should equal ``L(y)`` and
from which H classifies the tokens. Loss = diffusion term + ‖D(x̂0) − L(y)‖² − log p(y | D(x̂0)).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from .schedule import make_schedule


@dataclass
class CodeFusionConfig:
    """Constructor arguments of :class:`CodeFusion` (stored in every checkpoint)."""

    vocab_size: int = 1024
    d_model: int = 128
    d_embed: int = 64
    n_heads: int = 4
    d_ff: int = 256
    enc_layers: int = 2
    den_layers: int = 3
    dec_layers: int = 2
    max_src_len: int = 64
    max_tgt_len: int = 32
    dropout: float = 0.1
    diffusion_steps: int = 1200
    schedule: str = "sqrt"
    predict: str = "x0"  # what N outputs: "x0" (x̂0 directly) or "eps" (ε̂, x̂0 derived)
    tie_embeddings: bool = True  # E's input, the diffusion target L and the head H share L
    self_condition: bool = True  # N also sees its previous x̂0 estimate (Chen et al., Analog Bits)
    pad_id: int = 0
    bos_id: int = 1
    eos_id: int = 2
    mask_id: int = 3

    def to_dict(self) -> dict:
        return asdict(self)


def _layers(cfg: CodeFusionConfig, n: int, cross: bool) -> nn.ModuleList:
    cls = nn.TransformerDecoderLayer if cross else nn.TransformerEncoderLayer
    return nn.ModuleList(
        cls(cfg.d_model, cfg.n_heads, cfg.d_ff, cfg.dropout, batch_first=True, norm_first=True)
        for _ in range(n)
    )


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class Encoder(nn.Module):
    """E: utterance tokens → contextual vectors (also used for masked code in CPD).

    With ``d_in`` the token vectors come from a shared embedding passed to ``forward``
    (projected to ``d_model``), so utterance and code tokens live in one space and copying
    a value from the utterance into the code is easy to learn.
    """

    def __init__(self, cfg: CodeFusionConfig, d_in: int | None = None):
        super().__init__()
        if d_in is None:
            self.tok = nn.Embedding(cfg.vocab_size, cfg.d_model, padding_idx=cfg.pad_id)
        else:
            self.inp = nn.Linear(d_in, cfg.d_model)
        self.pos = nn.Embedding(cfg.max_src_len, cfg.d_model)
        self.layers = _layers(cfg, cfg.enc_layers, cross=False)
        self.norm = nn.LayerNorm(cfg.d_model)
        self.pad_id = cfg.pad_id

    def forward(self, src: torch.Tensor, embed: nn.Module | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        pad = src.eq(self.pad_id)
        x = self.inp(embed(src)) if embed is not None else self.tok(src)
        h = x + self.pos(torch.arange(src.shape[1], device=src.device))
        for layer in self.layers:
            h = layer(h, src_key_padding_mask=pad)
        return self.norm(h), pad


class CrossStack(nn.Module):
    """Self-attention over a continuous sequence + cross-attention to the encoder (N and D)."""

    def __init__(self, cfg: CodeFusionConfig, n_layers: int, time: bool, d_in: int | None = None):
        super().__init__()
        self.inp = nn.Linear(d_in or cfg.d_embed, cfg.d_model)
        self.pos = nn.Embedding(cfg.max_tgt_len, cfg.d_model)
        self.time = (
            nn.Sequential(nn.Linear(cfg.d_model, cfg.d_model), nn.SiLU(), nn.Linear(cfg.d_model, cfg.d_model))
            if time else None
        )
        self.layers = _layers(cfg, n_layers, cross=True)
        self.norm = nn.LayerNorm(cfg.d_model)
        self.out = nn.Linear(cfg.d_model, cfg.d_embed)
        self.d_model = cfg.d_model

    def forward(self, x, memory, memory_pad, t=None):
        h = self.inp(x) + self.pos(torch.arange(x.shape[1], device=x.device))
        if self.time is not None:
            h = h + self.time(timestep_embedding(t, self.d_model))[:, None, :]
        for layer in self.layers:
            h = layer(h, memory, memory_key_padding_mask=memory_pad)
        return self.out(self.norm(h))


class CodeFusion(nn.Module):
    """Embedding diffusion for code, conditioned on an utterance."""

    def __init__(self, cfg: CodeFusionConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg, cfg.d_embed if cfg.tie_embeddings else None)  # E
        d_in = cfg.d_embed * (2 if cfg.self_condition else 1)
        self.denoiser = CrossStack(cfg, cfg.den_layers, time=True, d_in=d_in)  # N
        self.decoder = CrossStack(cfg, cfg.dec_layers, time=False)  # D
        self.embed = nn.Embedding(cfg.vocab_size, cfg.d_embed)  # L
        if cfg.tie_embeddings:  # H = L^T (+ bias)
            self.head_bias = nn.Parameter(torch.zeros(cfg.vocab_size))
        else:
            self.head = nn.Linear(cfg.d_embed, cfg.vocab_size)  # H
        nn.init.normal_(self.embed.weight, std=1.0)
        self.schedule = make_schedule(cfg.schedule, cfg.diffusion_steps)

    def encode(self, src: torch.Tensor | None, batch: int, noise_memory: bool = False, generator=None):
        """E(src); for unsupervised generation pre-training E's output is replaced by noise."""
        if noise_memory:
            dev = self.embed.weight.device
            mem = torch.randn(batch, 8, self.cfg.d_model, device=dev, generator=generator)
            return mem, torch.zeros(batch, 8, dtype=torch.bool, device=dev)
        return self.encoder(src, self.embed if self.cfg.tie_embeddings else None)

    def logits(self, h: torch.Tensor) -> torch.Tensor:
        """H: token logits from the decoder output."""
        if self.cfg.tie_embeddings:
            return F.linear(h, self.embed.weight, self.head_bias)
        return self.head(h)

    def denoise(self, x_t, t, memory, memory_pad, x0_prev=None):
        """N: returns x̂0 whatever the parameterisation (and ε̂ for "eps")."""
        inp = x_t
        if self.cfg.self_condition:
            inp = torch.cat([x_t, torch.zeros_like(x_t) if x0_prev is None else x0_prev], -1)
        out = self.denoiser(inp, memory, memory_pad, t)
        if self.cfg.predict == "eps":
            return self.schedule.x0_from_eps(x_t, out, t), out
        return out, None

    def loss(self, src, tgt, noise_memory: bool = False, high_noise: float = 0.0) -> tuple[torch.Tensor, dict]:
        """The three-part CodeFusion loss on a batch of (src, tgt) token ids.

        ``high_noise``: fraction of the batch whose t is drawn from the noisiest 20% of steps
        instead of uniformly. Embeddings stay recognisable until alpha_bar is small, so with
        uniform t the model rarely practises the start of sampling (x_T is pure noise).
        """
        b = tgt.shape[0]
        memory, mem_pad = self.encode(src, b, noise_memory)
        x0 = self.embed(tgt)
        T = self.cfg.diffusion_steps
        t = torch.randint(1, T + 1, (b,), device=tgt.device)
        if high_noise > 0:
            hi = torch.randint(int(0.8 * T), T + 1, (b,), device=tgt.device)
            t = torch.where(torch.rand(b, device=tgt.device) < high_noise, hi, t)
        noise = torch.randn_like(x0)
        x_t = self.schedule.add_noise(x0, noise, t)
        x0_prev = None
        if self.cfg.self_condition and torch.rand(()) < 0.5:
            with torch.no_grad():
                x0_prev = self.denoise(x_t, t, memory, mem_pad)[0].detach()
        x0_hat, eps_hat = self.denoise(x_t, t, memory, mem_pad, x0_prev)
        if eps_hat is not None:
            diff = F.mse_loss(eps_hat, noise)
        else:
            diff = F.mse_loss(x0_hat, x0)
        dec = self.decoder(x0_hat, memory, mem_pad)
        rec = F.mse_loss(dec, x0)
        logits = self.logits(dec)
        ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt.reshape(-1))
        total = diff + rec + ce
        return total, {"diff": diff.item(), "rec": rec.item(), "ce": ce.item()}

    def nearest_tokens(self, x: torch.Tensor) -> torch.Tensor:
        """Grounding: the token whose embedding L is nearest to each position of ``x``."""
        w = self.embed.weight
        d = (x.pow(2).sum(-1, keepdim=True) - 2 * x @ w.t() + w.pow(2).sum(-1)[None, None])
        return d.argmin(-1)

    @torch.no_grad()
    def sample(self, src: torch.Tensor, num_steps: int = 10, decode: str = "dh", generator=None):
        """Reverse diffusion from Gaussian noise; returns (tokens, per-token log-probs).

        ``decode``: "dh" (decoder D + head H, the CodeFusion way), "ground" (nearest
        embedding once at the end) or "clamp" (snap x̂0 to the nearest embedding every step).
        """
        b, dev = src.shape[0], src.device
        memory, mem_pad = self.encode(src, b)
        shape = (b, self.cfg.max_tgt_len, self.cfg.d_embed)
        x = torch.randn(shape, generator=generator, device="cpu").to(dev)
        timesteps = self.schedule.set_timesteps(num_steps)
        x0_hat = None
        for t in timesteps.tolist():
            tt = torch.full((b,), t, dtype=torch.long, device=dev)
            x0_hat, _ = self.denoise(x, tt, memory, mem_pad, x0_hat)
            if decode == "clamp":
                x0_hat = self.embed(self.nearest_tokens(x0_hat))
            x = self.schedule.step(x0_hat, t, x)
        if decode == "dh":
            logits = self.logits(self.decoder(x0_hat, memory, mem_pad))
        else:
            w = self.embed.weight
            logits = -(x0_hat.pow(2).sum(-1, keepdim=True) - 2 * x0_hat @ w.t() + w.pow(2).sum(-1)[None, None])
        logp = logits.log_softmax(-1)
        tokens = logp.argmax(-1)
        return tokens, logp.gather(-1, tokens[..., None]).squeeze(-1)
