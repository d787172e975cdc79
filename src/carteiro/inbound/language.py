"""Which language a message is in, Portuguese or English, for the words written around it.

Only the two languages Carteiro writes in are told apart: the Content-Language header when the
sender set one, else the common words (and Portuguese letters) of the subject and body. Anything
undecided is Portuguese, the product's first language.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Literal

Language = Literal["pt", "en"]

_WORD = re.compile(r"[a-zà-ÿ]+")
_PT = frozenset(
    [
        "não",
        "você",
        "vocês",
        "obrigado",
        "obrigada",
        "olá",
        "oi",
        "bom",
        "boa",
        "dia",
        "tarde",
        "noite",
        "para",
        "com",
        "uma",
        "um",
        "que",
        "de",
        "do",
        "da",
        "dos",
        "das",
        "em",
        "no",
        "na",
        "nos",
        "nas",
        "por",
        "favor",
        "está",
        "estou",
        "são",
        "é",
        "ao",
        "aos",
        "às",
        "seu",
        "sua",
        "mais",
        "muito",
        "também",
        "mas",
        "como",
        "quando",
        "onde",
        "qual",
        "sim",
        "atenciosamente",
        "abraço",
        "abraços",
        "prezado",
        "prezada",
        "orçamento",
        "reunião",
        "amanhã",
        "hoje",
        "pedido",
    ]
)
_EN = frozenset(
    [
        "the",
        "and",
        "you",
        "your",
        "thanks",
        "thank",
        "hello",
        "hi",
        "dear",
        "please",
        "is",
        "are",
        "was",
        "were",
        "to",
        "of",
        "in",
        "on",
        "for",
        "with",
        "this",
        "that",
        "it",
        "be",
        "will",
        "would",
        "could",
        "can",
        "regards",
        "best",
        "sincerely",
        "meeting",
        "tomorrow",
        "today",
        "order",
        "quote",
        "yes",
        "no",
    ]
)
_PT_LETTERS = re.compile(r"[ãõçâêô]")


def detect(text: str, headers: Mapping[str, object] | None = None) -> Language:
    """'pt' or 'en' for `text` (the subject and the start of the body)."""
    for name, value in (headers or {}).items():
        if name.lower() == "content-language" and isinstance(value, str):
            tag = value.strip().lower()
            if tag.startswith("en"):
                return "en"
            if tag.startswith("pt"):
                return "pt"
    sample = text[:4000].lower()
    words = _WORD.findall(sample)
    pt = sum(w in _PT for w in words) + 2 * len(_PT_LETTERS.findall(sample))
    en = sum(w in _EN for w in words)
    return "en" if en > pt else "pt"
