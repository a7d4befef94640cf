"""The autoregressive baseline: an encoder-decoder transformer of the same size as CodeFusion.

Same encoder E and tokenizer; the decoder has ``den_layers + dec_layers`` causal layers so
the parameter count matches. Top-k by beam search or nucleus sampling.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .model import CodeFusionConfig, Encoder, _layers


class ARBaseline(nn.Module):
    def __init__(self, cfg: CodeFusionConfig):
        super().__init__()
        self.cfg = cfg
        self.tok = nn.Embedding(cfg.vocab_size, cfg.d_model, padding_idx=cfg.pad_id)
        self.encoder = Encoder(cfg, cfg.d_model if cfg.tie_embeddings else None)
        self.pos = nn.Embedding(cfg.max_tgt_len + 1, cfg.d_model)
        self.layers = _layers(cfg, cfg.den_layers + cfg.dec_layers, cross=True)
        self.norm = nn.LayerNorm(cfg.d_model)
        nn.init.normal_(self.tok.weight, std=cfg.d_model ** -0.5)
        if cfg.tie_embeddings:  # encoder input, decoder input and output head share one table
            self.head_bias = nn.Parameter(torch.zeros(cfg.vocab_size))
        else:
            self.head = nn.Linear(cfg.d_model, cfg.vocab_size)

    def run_encoder(self, src):
        return self.encoder(src, self.tok if self.cfg.tie_embeddings else None)

    def encode(self, src, batch: int, noise_memory: bool = False):
        if noise_memory:
            dev = self.tok.weight.device
            mem = torch.randn(batch, 8, self.cfg.d_model, device=dev)
            return mem, torch.zeros(batch, 8, dtype=torch.bool, device=dev)
        return self.run_encoder(src)

    def logits(self, inp, memory, mem_pad):
        n = inp.shape[1]
        h = self.tok(inp) + self.pos(torch.arange(n, device=inp.device))
        causal = torch.triu(torch.ones(n, n, dtype=torch.bool, device=inp.device), 1)
        for layer in self.layers:
            h = layer(h, memory, tgt_mask=causal, memory_key_padding_mask=mem_pad)
        h = self.norm(h)
        if self.cfg.tie_embeddings:
            return F.linear(h, self.tok.weight, self.head_bias)
        return self.head(h)

    def loss(self, src, tgt, noise_memory: bool = False):
        """Teacher-forced cross-entropy on ``<s> y`` → ``y </s>`` (padding ignored)."""
        b = tgt.shape[0]
        memory, mem_pad = self.encode(src, b, noise_memory)
        bos = torch.full((b, 1), self.cfg.bos_id, dtype=tgt.dtype, device=tgt.device)
        inp = torch.cat([bos, tgt[:, :-1]], 1)
        logits = self.logits(inp, memory, mem_pad)
        ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt.reshape(-1), ignore_index=self.cfg.pad_id)
        return ce, {"ce": ce.item()}

    @torch.no_grad()
    def beam_search(self, src, k: int = 5):
        """Beam search on one utterance (src of shape (1, S)); returns [(tokens, mean logp)]."""
        memory, mem_pad = self.run_encoder(src)
        dev, eos = src.device, self.cfg.eos_id
        beams = [([self.cfg.bos_id], 0.0)]
        done = []
        for _ in range(self.cfg.max_tgt_len):
            inp = torch.tensor([b[0] for b in beams], device=dev)
            m = memory.expand(len(beams), -1, -1)
            mp = mem_pad.expand(len(beams), -1)
            logp = self.logits(inp, m, mp)[:, -1].log_softmax(-1)
            cand = []
            for i, (seq, s) in enumerate(beams):
                top = logp[i].topk(k)
                for lp, tok in zip(top.values.tolist(), top.indices.tolist()):
                    cand.append((seq + [tok], s + lp))
            cand.sort(key=lambda c: -c[1])
            beams = []
            for seq, s in cand:
                if seq[-1] == eos:
                    done.append((seq[1:], s / (len(seq) - 1)))
                else:
                    beams.append((seq, s))
                if len(beams) == k:
                    break
            if len(done) >= 2 * k or not beams:
                break
        done += [(seq[1:], s / max(1, len(seq) - 1)) for seq, s in beams]
        done.sort(key=lambda c: -c[1])
        return done

    @torch.no_grad()
    def nucleus(self, src, n: int, top_p: float = 0.9, generator=None):
        """Nucleus sampling of ``n`` sequences for one utterance; returns [(tokens, mean logp)]."""
        memory, mem_pad = self.run_encoder(src)
        dev = src.device
        memory, mem_pad = memory.expand(n, -1, -1), mem_pad.expand(n, -1)
        seqs = torch.full((n, 1), self.cfg.bos_id, dtype=torch.long, device=dev)
        total = torch.zeros(n, device=dev)
        length = torch.zeros(n, device=dev)
        alive = torch.ones(n, dtype=torch.bool, device=dev)
        for _ in range(self.cfg.max_tgt_len):
            logp = self.logits(seqs, memory, mem_pad)[:, -1].log_softmax(-1)
            sp, si = logp.exp().sort(-1, descending=True)
            keep = sp.cumsum(-1) - sp < top_p
            sp = sp * keep
            pick = torch.multinomial((sp / sp.sum(-1, keepdim=True)).cpu(), 1, generator=generator).to(dev)
            tok = si.gather(-1, pick).squeeze(-1)
            tok = torch.where(alive, tok, torch.full_like(tok, self.cfg.pad_id))
            total += torch.where(alive, logp.gather(-1, tok[:, None]).squeeze(-1), torch.zeros_like(total))
            length += alive.float()
            seqs = torch.cat([seqs, tok[:, None]], 1)
            alive &= tok.ne(self.cfg.eos_id)
            if not alive.any():
                break
        return [(seqs[i, 1:].tolist(), float(total[i] / length[i])) for i in range(n)]
