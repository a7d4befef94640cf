"""CodeFusion: natural language to code by diffusion over code embeddings.

One file per part: ``tokenizer`` (byte-level BPE), ``schedule`` (noise schedule, apart from
the networks), ``model`` (encoder E, denoiser N, decoder D, head H, embedding L),
``ar_model`` (the autoregressive baseline), ``train``, ``generate``, ``metrics`` and
``cfrule`` (an interpreter for Excel conditional-formatting rules).
"""

LANGUAGES = ("cf", "bash", "python")
