"""Byte-level BPE tokenizer trained with the ``tokenizers`` package, shared by utterance and code."""

from __future__ import annotations

from typing import Iterable

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

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
        """Byte-level BPE whose pre-tokens are words, numbers, single punctuation marks and
        whitespace runs, so a value is tokenized the same in the utterance ("than 85") and
        in the code ("(85"): the model can copy it token for token."""
        tok = Tokenizer(models.BPE(unk_token=UNK))
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(r"\s+|[^\w\s]|\w+"), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ])
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=SPECIALS,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
        )
        tok.train_from_iterator(texts, trainer=trainer)
        return cls(tok)

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
