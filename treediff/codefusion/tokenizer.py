"""Byte-level BPE tokenizer trained with the ``tokenizers`` package, shared by utterance and code."""

from __future__ import annotations

from typing import Iterable

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

PAD, BOS, EOS, MASK, UNK = "<pad>", "<s>", "</s>", "<mask>", "<unk>"
SPECIALS = [PAD, BOS, EOS, MASK, UNK]
# Literal placeholders (codefusion/literals.py) as single tokens: split into "§" + "0" by
# BPE, the diffusion model wrote "GreaterThan(§)" or a number that is no placeholder.
PLACEHOLDER_TOKENS = [f"§{i}" for i in range(32)]


class CodeTokenizer:
    """Thin wrapper: ids for the special tokens, encode/decode, JSON (de)serialisation."""

    def __init__(self, tokenizer: Tokenizer):
        self.tok = tokenizer
        self.pad_id = tokenizer.token_to_id(PAD)
        self.bos_id = tokenizer.token_to_id(BOS)
        self.eos_id = tokenizer.token_to_id(EOS)
        self.mask_id = tokenizer.token_to_id(MASK)
        self.unk_id = tokenizer.token_to_id(UNK)
        # Whole tokens added after BPE training (the placeholders) are written out verbatim:
        # the byte-level decoder would read "§" as two bytes of a UTF-8 sequence and garble it.
        self._verbatim = {i: t.content for i, t in tokenizer.get_added_tokens_decoder().items() if not t.special}

    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int = 1024, min_frequency: int = 2,
              whole: Iterable[str] = PLACEHOLDER_TOKENS) -> "CodeTokenizer":
        """Byte-level BPE whose pre-tokens are words, numbers, single punctuation marks and
        whitespace runs, so a value is tokenized the same in the utterance ("than 85") and
        in the code ("(85"): the model can copy it token for token. The strings in
        ``whole`` are added as single tokens, matched before BPE."""
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
        tok.add_tokens([AddedToken(w, normalized=False) for w in whole])
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
        text, run = [], []
        for i in ids:
            i = int(i)
            if i in (self.eos_id, self.pad_id):
                break
            if i in (self.bos_id, self.mask_id, self.unk_id):
                continue
            if i in self._verbatim:
                text += [self.tok.decode(run), self._verbatim[i]]
                run = []
            else:
                run.append(i)
        return "".join(text) + self.tok.decode(run)
