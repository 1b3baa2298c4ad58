"""The lexical (BM25) side of an index: exact names, codes and rare words that a dense embedding misses.

    from omnivec.index.lexical import LexicalIndex, item_text
    lex = LexicalIndex.build([item_text(r) for r in rows], [r["item_id"] for r in rows])
    lex.search(["x7-200 charger"], k=10)          # [[("p17", 9.12), ("p3", 2.4)]]: ids + BM25, best first
    lex.save("idx/lexical"); lex = LexicalIndex.load("idx/lexical")

Scoring is `bm25s <https://github.com/xhluca/bm25s>`_ (Lucene's BM25 variant: ``k1``, ``b``), a sparse
matrix of precomputed term scores; we only tokenise. Saved with bm25s' own format (``.npy`` arrays written
and read with ``allow_pickle=False``, vocabulary and parameters as JSON) plus ``ids.json`` and
``lexical.json`` (our metadata: tokenizer, parameters, size). Nothing is unpickled on load.

Tokenisation (``words-v1``, :func:`tokenize`), chosen for catalogue entities rather than prose:

* Unicode NFKC, then lowercase: full-width ``ＸＢＯＸ`` and ``XBox`` both become ``xbox``.
* Tokens are runs of letters and digits; digits are kept (``2024``, ``7``) and single characters too.
* A code such as ``X7-200``, ``v2.1`` or ``ab_12/c`` (letter/digit runs joined by ``- . _ /`` without
  spaces) gives its parts (``x7``, ``200``) **and** the whole code (``x7-200``), so the exact code
  outranks documents that merely contain the parts, while ``x7 200`` still matches them.
* English stopwords are dropped (Lucene's list of 33, as bm25s ships it); a code is kept whole even when
  its parts are stopwords.
* Chinese/Japanese/Korean runs, which have no spaces, become single characters plus adjacent bigrams.
* No stemming (that would need PyStemmer): ``shoes`` does not match ``shoe``; the dense side covers that.

Query tokens are de-duplicated; documents keep their term frequencies. Tokens absent from the corpus are
ignored, and a query with no known token returns no hits (documents with score 0 are never returned).
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from omnivec.errors import ConfigError, DataFormatError
from omnivec.index.tables import check_ids
from omnivec.utils.io import atomic_dir, write_json

__all__ = [
    "DEFAULT_TOKENIZER",
    "LEXICAL_FIELDS",
    "TOKENIZERS",
    "LexicalIndex",
    "item_text",
    "tokenize",
]

#: Item fields joined into an item's lexical text, in this order.
LEXICAL_FIELDS: tuple[str, ...] = ("title", "ocr", "asr", "nickname", "tags", "text")
#: Version of the files :meth:`LexicalIndex.save` writes.
LEXICAL_FORMAT_VERSION = 1
META_FILE = "lexical.json"
IDS_FILE = "ids.json"

#: Lucene's English stopwords (bm25s ships the same list as ``STOPWORDS_EN``); a copy, so tokenising
#: imports nothing.
STOPWORDS_EN: frozenset[str] = frozenset((
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it", "no", "not",
    "of", "on", "or", "such", "that", "the", "their", "then", "there", "these", "they", "this", "to", "was",
    "will", "with",
))  # fmt: skip
# letter/digit runs, optionally joined by code separators with no space: "x7-200", "v2.1", "ab_12/c"
_SPAN = re.compile(r"[^\W_]+(?:[-./_][^\W_]+)*")
_WORD = re.compile(r"[^\W_]+")
# scripts written without spaces: Han, Hiragana, Katakana, Hangul
_CJK = re.compile(r"([\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]+)")


def item_text(row: Mapping[str, Any]) -> str:
    """An item's text fields (:data:`LEXICAL_FIELDS`: title, ocr, asr, nickname, tags, text) joined by
    newlines; missing, ``None`` and empty values are skipped, list values (tags) are joined by spaces."""
    parts: list[str] = []
    for name in LEXICAL_FIELDS:
        value = row.get(name)
        if value is None:
            continue
        if isinstance(value, (list, tuple)):
            text = " ".join(str(v).strip() for v in value if v is not None and str(v).strip())
        else:
            text = str(value).strip()
        if text:
            parts.append(text)
    return "\n".join(parts)


def _cjk_tokens(run: str) -> list[str]:
    return list(run) + [run[i : i + 2] for i in range(len(run) - 1)]


def _word_tokens(word: str) -> list[str]:
    out: list[str] = []
    for piece in _CJK.split(word):
        if not piece:
            continue
        if _CJK.fullmatch(piece):
            out.extend(_cjk_tokens(piece))
        elif piece not in STOPWORDS_EN:
            out.append(piece)
    return out


def tokenize(text: str) -> list[str]:
    """The ``words-v1`` tokens of ``text`` (see the module docstring for the rules)."""
    tokens: list[str] = []
    for span in _SPAN.findall(unicodedata.normalize("NFKC", text).lower()):
        words = _WORD.findall(span)
        for word in words:
            tokens.extend(_word_tokens(word))
        if len(words) > 1 and not _CJK.search(span):
            tokens.append(span)
    return tokens


#: Tokenizer registry: the name is recorded in ``lexical.json`` so an index is always queried with the
#: tokenizer that built it. Add a tokenizer under a new name; never change one in place.
TOKENIZERS: dict[str, Callable[[str], list[str]]] = {"words-v1": tokenize}
DEFAULT_TOKENIZER = "words-v1"


def _get_tokenizer(name: str) -> Callable[[str], list[str]]:
    try:
        return TOKENIZERS[name]
    except KeyError:
        raise ConfigError(
            f"unknown lexical tokenizer {name!r}; expected one of {sorted(TOKENIZERS)}"
        ) from None


def _bm25s() -> Any:
    try:
        import bm25s
    except ImportError:
        raise ConfigError("the lexical index needs the bm25s package: pip install bm25s") from None
    return bm25s


def _check_param(name: str, value: float, low: float, high: float | None = None) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"lexical {name} must be a number, got {value!r}") from None
    if not (v >= low and (high is None or v <= high)):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise ConfigError(f"lexical {name} must be {bound}, got {value!r}")
    return v


class LexicalIndex:
    """BM25 over one text per item (usually :func:`item_text`), searched by query strings."""

    def __init__(self, bm25: Any, ids: Sequence[str], meta: Mapping[str, Any]) -> None:
        self._bm25 = bm25
        self._ids = list(ids)
        self.meta = dict(meta)
        self._tokenize = _get_tokenizer(str(self.meta.get("tokenizer", DEFAULT_TOKENIZER)))
        self._vocab: dict[str, int] = dict(bm25.vocab_dict)

    # ------------------------------------------------------------- build
    @classmethod
    def build(
        cls,
        texts: list[str],
        ids: list[str],
        *,
        k1: float = 1.5,
        b: float = 0.75,
        show_progress: bool = False,
        tokenizer: str = DEFAULT_TOKENIZER,
    ) -> LexicalIndex:
        """BM25 over ``texts`` (one per id). Raises :class:`ConfigError` for an empty corpus or one whose
        texts hold no token at all; texts without tokens are kept (they simply never match)."""
        k1 = _check_param("k1", k1, 0.0)
        b = _check_param("b", b, 0.0, 1.0)
        ids = check_ids(ids, "lexical index ids")
        if len(texts) != len(ids):
            raise DataFormatError(f"lexical index: got {len(texts)} texts but {len(ids)} ids")
        if not ids:
            raise ConfigError("lexical index: the corpus is empty (no texts to index)")
        tokenize_fn = _get_tokenizer(tokenizer)
        corpus: list[list[str]] = []
        for row, text in enumerate(texts):
            if not isinstance(text, str):
                raise DataFormatError(
                    f"lexical index: text of item {ids[row]!r} must be a string, got {type(text).__name__}"
                )
            corpus.append(tokenize_fn(text))
        if not any(corpus):
            raise ConfigError(
                f"lexical index: none of the {len(ids)} texts has a searchable token "
                f"(tokenizer {tokenizer!r}); give items text fields ({', '.join(LEXICAL_FIELDS)})"
            )
        bm25s = _bm25s()
        bm25 = bm25s.BM25(k1=k1, b=b, method="lucene")
        bm25.index(corpus, show_progress=show_progress)
        meta = {
            "format_version": LEXICAL_FORMAT_VERSION,
            "tokenizer": tokenizer,
            "k1": k1,
            "b": b,
            "method": "lucene",
            "size": len(ids),
            "empty_documents": sum(1 for doc in corpus if not doc),
            "vocabulary": len(bm25.vocab_dict),
            "bm25s_version": getattr(bm25s, "__version__", None),
        }
        return cls(bm25, ids, meta)

    # ------------------------------------------------------------ search
    def __len__(self) -> int:
        return len(self._ids)

    @property
    def ids(self) -> list[str]:
        return list(self._ids)

    def tokens(self, text: str) -> list[str]:
        """The query tokens of ``text`` this index looks up (de-duplicated, in order)."""
        return list(dict.fromkeys(self._tokenize(text)))

    def doc_freq(self, tokens: Sequence[str]) -> list[int]:
        """How many indexed documents contain each token (0 for a token the index does not know)."""
        indptr = self._bm25.scores["indptr"]
        return [
            int(indptr[self._vocab[t] + 1] - indptr[self._vocab[t]]) if t in self._vocab else 0
            for t in tokens
        ]

    def search(self, queries: list[str], k: int) -> list[list[tuple[str, float]]]:
        """The top-``k`` ``(id, BM25 score)`` per query, best first (ties: index order). Documents with
        score 0 are left out, so a query with no known token gets ``[]``."""
        if isinstance(queries, str):
            raise ConfigError("lexical search: queries must be a list of strings, got one string")
        if int(k) < 1:
            raise ConfigError(f"k must be at least 1, got {k}")
        return [self._search_one(q, int(k)) for q in queries]

    def _search_one(self, query: str, k: int) -> list[tuple[str, float]]:
        if not isinstance(query, str):
            raise ConfigError(f"lexical search: a query must be a string, got {type(query).__name__}")
        token_ids = [self._vocab[t] for t in self.tokens(query) if t in self._vocab]
        if not token_ids:
            return []
        scores = np.asarray(self._bm25.get_scores_from_ids(token_ids), dtype=np.float64)
        rows = np.flatnonzero(scores > 0)
        if len(rows) > k:  # keep every row tied with the k-th score, then order them exactly
            kth = np.partition(scores[rows], len(rows) - k)[len(rows) - k]
            rows = rows[scores[rows] >= kth]
        order = np.lexsort((rows, -scores[rows]))[:k]
        return [(self._ids[r], float(scores[r])) for r in rows[order]]

    # ---------------------------------------------------------- save/load
    def save(self, folder: str | os.PathLike) -> Path:
        """Write the index into ``folder`` atomically (replacing an old one); return the folder."""
        out = Path(folder)
        with atomic_dir(out) as tmp:
            self._bm25.save(str(tmp), corpus=None, allow_pickle=False)
            write_json(tmp / IDS_FILE, self._ids)
            write_json(tmp / META_FILE, self.meta)
        return out

    @classmethod
    def load(cls, folder: str | os.PathLike) -> LexicalIndex:
        """Open a folder written by :meth:`save` (arrays read with ``allow_pickle=False``)."""
        import json

        path = Path(folder)
        meta_path, ids_path = path / META_FILE, path / IDS_FILE
        if not meta_path.is_file() or not ids_path.is_file():
            raise DataFormatError(f"{path} is not a lexical index folder (no {META_FILE} / {IDS_FILE})")
        try:
            meta = json.loads(meta_path.read_text())
            ids = json.loads(ids_path.read_text())
        except json.JSONDecodeError as exc:
            raise DataFormatError(f"{path}: unreadable lexical index metadata: {exc}") from None
        if int(meta.get("format_version", 0)) > LEXICAL_FORMAT_VERSION:
            raise DataFormatError(
                f"{meta_path}: format_version {meta['format_version']} is newer than this omnivec reads "
                f"({LEXICAL_FORMAT_VERSION})"
            )
        if not isinstance(ids, list) or len(ids) != int(meta.get("size", -1)):
            raise DataFormatError(f"{ids_path}: expected a list of {meta.get('size')} ids")
        _get_tokenizer(str(meta.get("tokenizer")))
        try:
            bm25 = _bm25s().BM25.load(str(path), load_corpus=False, mmap=False, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise DataFormatError(f"{path}: unreadable BM25 arrays: {exc}") from None
        if int(bm25.scores.get("num_docs") or -1) != len(ids):
            raise DataFormatError(
                f"{path}: BM25 arrays hold {bm25.scores.get('num_docs')} documents "
                f"but {IDS_FILE} has {len(ids)}"
            )
        return cls(bm25, [str(i) for i in ids], meta)

    def __repr__(self) -> str:
        return f"LexicalIndex(size={len(self)}, tokenizer={self.meta.get('tokenizer')!r})"
