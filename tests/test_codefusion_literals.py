"""Literal placeholders: values leave the utterance before the model and come back after."""

import pytest
import torch

from treediff.codefusion.ar_model import ARBaseline
from treediff.codefusion.data import load_benchmark
from treediff.codefusion.generate import topk
from treediff.codefusion.literals import LiteralCodec
from treediff.codefusion.model import CodeFusionConfig
from treediff.codefusion.tokenizer import CodeTokenizer

TRAIN = [
    ("Color cells greater than 5", "GreaterThan(5)"),
    ("Color cells that contain Yes", "TextContains(Yes)"),
    ("Highlight cells between 10 and 1", "Between(1,10)"),
    ("Color cells that are less than 3", "LessThan(3)"),
    ("Color the duplicate cells", "Duplicates()"),
]


@pytest.fixture(scope="module")
def codec():
    return LiteralCodec.fit(TRAIN, min_count=1)


def test_values_become_placeholders_in_order_and_come_back(codec):
    u, c, values = codec.encode("Highlight cells between 10 and 1", "Between(1,10)")
    assert values == ["10", "1"]
    assert u == "Highlight cells between §0 and §1" and c == "Between(§1,§0)"  # "1" inside "10" untouched
    assert LiteralCodec.restore(c, values) == "Between(1,10)"
    assert LiteralCodec.restore("Between(§1,§7)", values) == "Between(1,§7)"  # unknown placeholder stays


@pytest.mark.parametrize("utterance,values", [
    ('Color cells whose value is "In Progress"', ["In Progress"]),  # quoted: one value, spaces and all
    ("Color cells that contain Zamina Kalo", ["Zamina Kalo"]),  # adjacent name-like words: one value
    ("Color cells that contain Bull or Bear", ["Bull", "Bear"]),  # English between them: two
    ("Color cells that contain 経済", ["経済"]),  # another script
    ("Color cells that are greater than -0.5.", ["-0.5"]),  # sign and decimals; the full stop is not a digit
    ("Color cells that contain stuff", []),  # unknown lowercase words are English
])
def test_which_words_are_values(codec, utterance, values):
    assert codec.literals(utterance) == values


def test_common_words_are_learned_from_english_use_not_from_arguments():
    pairs = [("Color cells with Error", "TextContains(Error)"), ("Color cells with Error too", "TextEquals(Error)"),
             ("Color cells with Done", "TextContains(Done)")]
    codec = LiteralCodec.fit(pairs, min_count=2)
    assert {"color", "cells", "with"} <= codec.common
    assert "error" not in codec.common  # used twice, both times as the value
    assert LiteralCodec.from_meta({"literals": codec.to_json()}).common == codec.common
    assert LiteralCodec.from_meta({}) is None


def test_round_trip_on_the_cf_benchmark():
    """Anonymising never changes what the code means: restore(encode(code)) is the code."""
    bench = load_benchmark("cf")
    codec = LiteralCodec.fit([(it["NL Utterance"], it["Code"]) for it in bench["train"]])
    with_placeholder = 0
    for it in bench["train"] + bench["test"]:
        u, c, values = codec.encode(it["NL Utterance"], it["Code"])
        assert LiteralCodec.restore(c, values) == it["Code"]
        with_placeholder += "§" in c
    assert with_placeholder > 0.3 * len(bench["train"] + bench["test"])


def test_topk_restores_values_in_candidates(codec):
    tok = CodeTokenizer.train([codec.encode(u, c)[0] for u, c in TRAIN] + [codec.encode(u, c)[1] for u, c in TRAIN] * 3,
                              vocab_size=300)
    torch.manual_seed(0)
    cfg = CodeFusionConfig(vocab_size=tok.vocab_size, d_model=32, d_embed=16, n_heads=2, d_ff=64, enc_layers=1,
                           den_layers=1, dec_layers=1, max_src_len=16, max_tgt_len=12, dropout=0.0,
                           diffusion_steps=100, pad_id=tok.pad_id, bos_id=tok.bos_id, eos_id=tok.eos_id,
                           mask_id=tok.mask_id)
    model = ARBaseline(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    from treediff.codefusion.train import encode_src, encode_tgt
    anon = [codec.encode(u, c) for u, c in TRAIN]
    src, _ = encode_src(tok, [a[0] for a in anon], cfg)
    tgt = encode_tgt(tok, [a[1] for a in anon], cfg)
    for _ in range(150):  # learn the pairs by heart
        loss, _ = model.loss(src, tgt)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    # A value never seen in training reaches the code through its placeholder.
    [cands] = topk(model, "ar", tok, ["Color cells greater than 987"], k=2, literals=codec)
    assert cands[0][0] == "GreaterThan(987)"
    [raw] = topk(model, "ar", tok, ["Color cells greater than 987"], k=2)
    assert all("987" not in c for c, _ in raw)
    # Without a value the placeholder the model writes has nothing to restore: such
    # candidates come after every candidate without one.
    [bare] = topk(model, "ar", tok, ["Color cells greater than"], k=6, literals=codec)
    held = [LiteralCodec.has_placeholder(c) for c, _ in bare]
    assert any(held) and not all(held) and held == sorted(held), bare


def test_placeholders_are_whole_tokens_and_decode_verbatim():
    """Split into "§" + "0", a placeholder could be half-written ("GreaterThan(§)"); as one
    token it cannot. The byte-level decoder must not garble the "§" either."""
    tok = CodeTokenizer.train([u for u, _ in TRAIN] + [c for _, c in TRAIN] + ["Between(§1,§0) 経済"] * 3,
                              vocab_size=300)
    for code in ["Between(§1,§0)", "TextContains(§12) 経済", "GreaterThan(§0)§1"]:
        ids = tok.encode(code)
        assert tok.decode(ids) == code
    assert len(tok.encode("§0")) == 1 and len(tok.encode("§31")) == 1
    assert CodeTokenizer.from_json(tok.to_json()).decode(tok.encode("Between(§1,§0)")) == "Between(§1,§0)"


def test_word_dropout_keeps_placeholders_and_a_word():
    import random

    from treediff.codefusion.data import drop_words

    rng = random.Random(0)
    u = "Color cells that are greater than §0 and less than §1"
    assert drop_words(u, rng, 0.0) == u
    outs = [drop_words(u, rng, 0.5) for _ in range(50)]
    assert all("§0" in o and "§1" in o for o in outs)
    assert any(o != u for o in outs) and all(len(o.split()) >= 3 for o in outs)
    assert drop_words("§0 §1", rng, 1.0) == "§0 §1"


def test_ignores_values_when_no_argument_is_a_requested_value():
    values = ["60", "Mon Jun 15"]
    assert LiteralCodec.ignores_values("GreaterThan()", values)
    assert LiteralCodec.ignores_values("IconSet()", values)
    assert LiteralCodec.ignores_values("GreaterThan(600)", values)  # whole arguments, not substrings
    assert not LiteralCodec.ignores_values("GreaterThan(c[1], 60)", values)
    assert not LiteralCodec.ignores_values("NOT(TextContains('mon jun 15'))", values)
    assert not LiteralCodec.ignores_values("Top(1)", [])  # a request without values flags nothing
    codec = LiteralCodec({"highlight", "the", "top"})
    assert codec.literals("highlight the top 10%") == ["10%"]
    assert not codec.ignores_values("top(10%)", ["10%"]) and not codec.ignores_values("TopPercent(10)", ["10%"])


def test_lowercase_folds_the_words_after_the_values_are_found():
    codec = LiteralCodec({"color", "cells", "that", "contain", "or", "less", "than"}, lowercase=True)
    # "Bull" and "Bear" are values because of their capitals: found first, kept as written
    assert codec.encode("Color Cells that contain Bull or Bear", "OR(TextContains(Bull), TextContains(Bear))") == (
        "color cells that contain §0 or §1", "OR(TextContains(§0), TextContains(§1))", ["Bull", "Bear"])
    assert codec.encode("Less Than")[0] == "less than"  # no values: still folded
    assert LiteralCodec.from_meta({"literals": codec.to_json()}).lowercase
    # checkpoints saved before the option read requests as written
    assert not LiteralCodec.from_meta({"literals": {"common": ["color"]}}).lowercase
    assert LiteralCodec(codec.common).encode("Less Than")[0] == "Less Than"
