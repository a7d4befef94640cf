"""Byte-level BPE tokenizer trained with the ``tokenizers`` package, shared by utterance and code."""

from __future__ import annotations

from typing import Iterable

from tokenizers import Tokenizer
from tokenizers.implementations import ByteLevelBPETokenizer

PAD, BOS, EOS, MASK, UNK = "<pad>", "<s>", "</s>", "<mask>", "<unk>"
SPECIALS = [PAD, BOS, EOS, MASK, UNK]


class CodeTokenizer:
    """Thin wrapper: ids for the special tokens, encode/decode, JSON (de)serialisation."""

    def __init__(self, tokenizer: Tokenizer):
        self.tok = tokenizer
        self.pad_id = tokenizer.token_to_id(PAD)
        self.bos_id = tokenizer.token_to_id(BOS)
        self.eos_id = tokenizer.token_to_id(EOS)
        self.mask_id = tokenizer.token_to_id(MASK)
        self.unk_id = tokenizer.token_to_id(UNK)

    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int = 1024, min_frequency: int = 2) -> "CodeTokenizer":
        bpe = ByteLevelBPETokenizer()
        bpe.train_from_iterator(
            texts, vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=SPECIALS,
            show_progress=False,
        )
        return cls(Tokenizer.from_str(bpe._tokenizer.to_str()))

    @classmethod
    def from_json(cls, text: str) -> "CodeTokenizer":
        return cls(Tokenizer.from_str(text))

    def to_json(self) -> str:
        return self.tok.to_str()

    @property
    def vocab_size(self) -> int:
        return self.tok.get_vocab_size()

    def encode(self, text: str) -> list[int]:
        return self.tok.encode(text).ids

    def decode(self, ids: Iterable[int]) -> str:
        """Decode up to the first end/pad token, skipping the special tokens."""
        out = []
        for i in ids:
            i = int(i)
            if i in (self.eos_id, self.pad_id):
                break
            if i in (self.bos_id, self.mask_id, self.unk_id):
                continue
            out.append(i)
        return self.tok.decode(out)
