"""The tree-diffusion network: (target image, current render, current program) -> edit, value.

One shared encoder reads the images and the program together, so policy and value share
every CPU-second of feature computation:

* a small CNN turns [target, current, |target - current|] into a grid of image tokens;
* a bidirectional transformer reads [CLS, image tokens, program tokens];
* the **pointer** head scores every edit site (a subtree or a variable token) from the
  encoder states at the site's first and last token plus the site's kind, so the edit
  location is chosen among meaningful places only;
* the **replacement** decoder (causal, cross-attending to the encoder) writes the new
  subtree's tokens, starting from the chosen site's representation; logits are masked by
  the grammar (see `decoding.py`), so outputs are always valid;
* the **value** head regresses the number of edits still needed, from CLS.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

NEG_INF = -1e9


@dataclass
class ModelConfig:
    vocab_size: int
    n_site_kinds: int  # nonterminals + terminals
    channels: int  # image channels of the domain (1 grey, 3 RGB)
    image_size: int = 64
    d_model: int = 128
    n_heads: int = 4
    enc_layers: int = 3
    dec_layers: int = 2
    grid: int = 4  # image tokens per side
    ff_mult: int = 2  # feed-forward width / d_model (2 halves the CPU cost of 4 at little loss)
    max_tokens: int = 256  # longest program the position embedding covers
    max_replacement: int = 96
    dropout: float = 0.0
    memory_grid: int = 0  # if > 0: a finer grid x grid image map the decoder also attends to (0 = off)

    def to_dict(self) -> dict:
        return asdict(self)


class ImageEncoder(nn.Module):
    """Strided convolutions from (3C, S, S) down to a grid x grid map of d-dim tokens.

    With ``memory_grid`` it also returns the intermediate memory_grid x memory_grid map as
    tokens, each carrying its cell's (x, y) linearly: attending to the cells where target and
    current differ then reads off where that region is, which is what the numbers of a
    replacement shape are.
    """

    def __init__(self, in_channels: int, d: int, image_size: int, grid: int, memory_grid: int = 0):
        super().__init__()
        self.memory_grid = memory_grid
        layers = []
        channels = [in_channels + 2, 32, 64, 96, d]
        size = image_size
        i = 0
        while size > grid:
            c_in, c_out = channels[min(i, 3)], channels[min(i + 1, 4)]
            layers += [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1), nn.GroupNorm(8, c_out), nn.GELU()]
            size //= 2
            i += 1
        if channels[min(i, 4)] != d:
            layers += [nn.Conv2d(channels[min(i, 4)], d, 1)]
        self.net = nn.Sequential(*layers)
        self.pos = nn.Parameter(torch.zeros(1, grid * grid, d))
        if memory_grid:
            if memory_grid >= image_size or memory_grid <= grid or image_size % memory_grid:
                raise ValueError(f"memory_grid must divide the image size and lie between grid and it, got {memory_grid}")
            level = (image_size // memory_grid).bit_length() - 1  # conv blocks until that size
            mid = channels[min(level, 4)]
            self.memory_layers = 3 * level
            self.memory_proj = nn.Linear(mid, d)
            self.memory_coords = nn.Linear(2, d)
            self.memory_pos = nn.Parameter(torch.zeros(1, memory_grid * memory_grid, d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # CoordConv: explicit x/y channels make absolute positions (the numbers a program
        # needs) easy to read off, instead of having to be inferred from padding effects.
        B, _, H, W = x.shape
        ys = torch.linspace(-1, 1, H, device=x.device).view(1, 1, H, 1).expand(B, 1, H, W)
        xs = torch.linspace(-1, 1, W, device=x.device).view(1, 1, 1, W).expand(B, 1, H, W)
        h = torch.cat([x, xs, ys], dim=1)
        memory = None
        for i, layer in enumerate(self.net):
            h = layer(h)
            if self.memory_grid and i + 1 == self.memory_layers:
                g = self.memory_grid
                cells = torch.linspace(-1, 1, g, device=x.device)
                coords = torch.stack(torch.meshgrid(cells, cells, indexing="xy"), -1).view(1, g * g, 2)
                memory = self.memory_proj(h.flatten(2).transpose(1, 2)) + self.memory_coords(coords) + self.memory_pos
        tokens = h.flatten(2).transpose(1, 2) + self.pos  # (B, grid*grid, d)
        return tokens, memory


class TreeDiffusionModel(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        c, d = config, config.d_model
        self.image_encoder = ImageEncoder(3 * c.channels, d, c.image_size, c.grid, c.memory_grid)
        self.token_embedding = nn.Embedding(c.vocab_size, d)
        self.position_embedding = nn.Embedding(c.max_tokens, d)
        self.cls = nn.Parameter(torch.zeros(1, 1, d))
        self.segment = nn.Parameter(torch.zeros(2, d))  # image tokens vs program tokens
        layer = nn.TransformerEncoderLayer(d, c.n_heads, c.ff_mult * d, c.dropout, batch_first=True, norm_first=True,
                                           activation="gelu")
        self.encoder = nn.TransformerEncoder(layer, c.enc_layers, enable_nested_tensor=False)
        self.encoder_norm = nn.LayerNorm(d)
        self.site_kind = nn.Embedding(c.n_site_kinds, d)
        self.site_mlp = nn.Sequential(nn.Linear(3 * d, d), nn.GELU(), nn.Linear(d, d))
        self.pointer = nn.Linear(d, 1)
        self.value = nn.Sequential(nn.Linear(d, d), nn.GELU(), nn.Linear(d, 1))
        self.replacement_position = nn.Embedding(c.max_replacement + 1, d)
        dec_layer = nn.TransformerDecoderLayer(d, c.n_heads, c.ff_mult * d, c.dropout, batch_first=True, norm_first=True,
                                               activation="gelu")
        self.decoder = nn.TransformerDecoder(dec_layer, c.dec_layers)
        self.decoder_norm = nn.LayerNorm(d)
        self.lm_head = nn.Linear(d, c.vocab_size)
        self.apply(self._init)

    @staticmethod
    def _init(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    # ------------------------------------------------------------ encoder
    def encode(self, target: torch.Tensor, current: torch.Tensor, tokens: torch.Tensor):
        """Shared features. target/current: (B, C, S, S); tokens: (B, L) with 0 = padding.

        Returns (states (B, 1 + G + L, d), key padding mask, offset of the first program token,
        fine image memory (B, M, d) or None).
        """
        images = torch.cat([target, current, (target - current).abs()], dim=1)
        image_tokens, memory = self.image_encoder(images)
        image_tokens = image_tokens + self.segment[0]
        B, L = tokens.shape
        positions = torch.arange(L, device=tokens.device)
        program = self.token_embedding(tokens) + self.position_embedding(positions) + self.segment[1]
        x = torch.cat([self.cls.expand(B, -1, -1), image_tokens, program], dim=1)
        offset = 1 + image_tokens.shape[1]
        pad = torch.zeros(B, x.shape[1], dtype=torch.bool, device=tokens.device)
        pad[:, offset:] = tokens == 0
        states = self.encoder_norm(self.encoder(x, src_key_padding_mask=pad))
        return states, pad, offset, memory

    def site_features(self, states, offset, site_start, site_end, site_kind) -> torch.Tensor:
        """(B, M, d) features of edit sites from their first/last token states and kind."""
        d = states.shape[-1]
        first = torch.gather(states, 1, (site_start + offset).unsqueeze(-1).expand(-1, -1, d))
        last = torch.gather(states, 1, (site_end - 1 + offset).unsqueeze(-1).expand(-1, -1, d))
        return self.site_mlp(torch.cat([first, last, self.site_kind(site_kind)], dim=-1))

    def heads(self, target, current, tokens, site_start, site_end, site_kind, site_valid):
        """Encoder pass + value and pointer heads. Returns a dict used by training and search."""
        states, pad, offset, fine = self.encode(target, current, tokens)
        sites = self.site_features(states, offset, site_start, site_end, site_kind)
        pointer_logits = self.pointer(sites).squeeze(-1).masked_fill(~site_valid, NEG_INF)
        value = self.value(states[:, 0]).squeeze(-1)
        # What the replacement decoder cross-attends to: encoder states, plus the fine image map.
        memory, memory_pad = states, pad
        if fine is not None:
            memory = torch.cat([states, fine], dim=1)
            memory_pad = torch.cat([pad, pad.new_zeros(pad.shape[0], fine.shape[1])], dim=1)
        return {"states": states, "pad": pad, "memory": memory, "memory_pad": memory_pad, "sites": sites,
                "pointer_logits": pointer_logits, "value": value}

    # ------------------------------------------------------------ decoder
    def decode(self, states, pad, site_repr, replacement) -> torch.Tensor:
        """Logits for each replacement position. states/pad: the decoder memory (``heads``'s
        "memory"/"memory_pad"); site_repr: (B, d); replacement: (B, R) tokens
        already written (teacher forcing or decoding so far). Returns (B, R + 1, V)."""
        B, R = replacement.shape
        x = torch.cat([site_repr.unsqueeze(1), self.token_embedding(replacement)], dim=1)
        x = x + self.replacement_position(torch.arange(R + 1, device=x.device))
        causal = torch.triu(torch.ones(R + 1, R + 1, dtype=torch.bool, device=x.device), diagonal=1)
        h = self.decoder(x, states, tgt_mask=causal, memory_key_padding_mask=pad)
        return self.lm_head(self.decoder_norm(h))

    # ------------------------------------------------ incremental decoding
    # Search decodes token by token. Re-running the decoder over the whole prefix and
    # re-projecting the encoder memory at every step dominated search time, so these two
    # methods run the same layers (same weights as `decode`) one position at a time, with
    # cached self-attention keys/values and cross-attention keys/values computed once.
    def start_decoding(self, states, pad, site_repr, rows: torch.Tensor | None = None):
        """Begin decoding for a batch; returns (cache, logits for the first token).

        ``rows`` (optional) maps each decoded item to its row of ``states``/``pad``: search
        decodes several edits per program, and projecting each program's memory once, before
        repeating it per edit, saves most of the start-up cost.
        """
        d, H = self.config.d_model, self.config.n_heads

        def heads(x):
            return x.view(x.shape[0], -1, H, d // H).transpose(1, 2)

        def per_item(x):
            return x if rows is None else x[rows]

        memory = []
        for layer in self.decoder.layers:
            w, b = layer.multihead_attn.in_proj_weight, layer.multihead_attn.in_proj_bias
            memory.append((per_item(heads(F.linear(states, w[d:2 * d], b[d:2 * d]))),
                           per_item(heads(F.linear(states, w[2 * d:], b[2 * d:])))))
        cache = {"memory": memory, "attend": per_item((~pad)[:, None, None, :]), "self": [None] * len(memory), "pos": 0}
        x = site_repr + self.replacement_position.weight[0]
        return cache, self._decode_position(cache, x)

    def continue_decoding(self, cache, tokens: torch.Tensor) -> torch.Tensor:
        """Feed one token per row; returns logits for the next one."""
        cache["pos"] += 1
        x = self.token_embedding(tokens) + self.replacement_position.weight[cache["pos"]]
        return self._decode_position(cache, x)

    def _decode_position(self, cache, x):
        d, H = self.config.d_model, self.config.n_heads
        B = x.shape[0]
        h = x.unsqueeze(1)

        def heads(t):
            return t.view(B, -1, H, d // H).transpose(1, 2)

        def merge(t):
            return t.transpose(1, 2).reshape(B, 1, d)

        for i, layer in enumerate(self.decoder.layers):
            q, k, v = F.linear(layer.norm1(h), layer.self_attn.in_proj_weight, layer.self_attn.in_proj_bias).split(d, -1)
            k, v = heads(k), heads(v)
            if cache["self"][i] is not None:
                k = torch.cat([cache["self"][i][0], k], dim=2)
                v = torch.cat([cache["self"][i][1], v], dim=2)
            cache["self"][i] = (k, v)
            h = h + layer.self_attn.out_proj(merge(F.scaled_dot_product_attention(heads(q), k, v)))
            w, b = layer.multihead_attn.in_proj_weight, layer.multihead_attn.in_proj_bias
            q = heads(F.linear(layer.norm2(h), w[:d], b[:d]))
            mk, mv = cache["memory"][i]
            h = h + layer.multihead_attn.out_proj(merge(F.scaled_dot_product_attention(q, mk, mv, attn_mask=cache["attend"])))
            h = h + layer.linear2(F.gelu(layer.linear1(layer.norm3(h))))
        return self.lm_head(self.decoder_norm(h[:, 0]))

    def forward(self, batch: dict) -> dict:
        """Training losses for a collated batch (see `data.collate`)."""
        out = self.heads(batch["target"], batch["current"], batch["tokens"], batch["site_start"],
                         batch["site_end"], batch["site_kind"], batch["site_valid"])
        logits_ptr = out["pointer_logits"]
        site_ok = batch.get("edit_site_ok")
        if site_ok is None:  # only the canonical site is known
            site_ok = F.one_hot(batch["edit_site"], logits_ptr.shape[1]).bool()
        # -log P(pointer lands on ANY site where a correct next edit starts): the reverse path
        # fixes differences leftmost first, but another order is as short (noise.next_edit_paths).
        pointer_loss = (torch.logsumexp(logits_ptr, -1) - torch.logsumexp(logits_ptr.masked_fill(~site_ok, NEG_INF), -1)).mean()
        chosen = out["sites"][torch.arange(out["sites"].shape[0]), batch["edit_site"]]
        logits = self.decode(out["memory"], out["memory_pad"], chosen, batch["replacement_in"])
        logits = logits.masked_fill(~batch["replacement_allowed"], NEG_INF)
        valid = batch["replacement_valid"]
        token_loss = F.cross_entropy(logits[valid], batch["replacement_out"][valid])
        objective = token_loss
        if "replacement_soft" in batch:  # ordinal smoothing of number targets (see data.ordinal_soft_targets)
            log_probs = F.log_softmax(logits[valid], dim=-1)
            objective = -(batch["replacement_soft"][valid] * log_probs).sum(-1).mean()
        value_loss = F.smooth_l1_loss(out["value"], batch["steps_left"])
        loss = pointer_loss + objective + 0.5 * value_loss
        with torch.no_grad():
            pointed = logits_ptr.argmax(-1)
            pointer_acc = site_ok.gather(1, pointed.unsqueeze(1)).squeeze(1).float().mean()  # any correct site
            pointer_acc_first = (pointed == batch["edit_site"]).float().mean()  # the reverse path's own site
            token_ok = (logits.argmax(-1) == batch["replacement_out"]) | ~valid
            edit_acc = ((pointed == batch["edit_site"]) & token_ok.all(-1)).float().mean()
        return {"loss": loss, "pointer_loss": pointer_loss.detach(), "token_loss": token_loss.detach(),
                "value_loss": value_loss.detach(), "pointer_acc": pointer_acc,
                "pointer_acc_first": pointer_acc_first, "edit_acc": edit_acc}
