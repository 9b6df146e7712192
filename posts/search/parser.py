"""User text -> the words and phrases a search looks for (no database involved).

User text never reaches an engine's query parser as-is: it is reduced here to
plain words and phrases, and only those are quoted into the engine's syntax
(see the backends), so quotes, operators, ``*``, ``NEAR``, parentheses or NUL
in the input cannot break a query.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# Long enough for any real search, short enough that a pasted page is refused
# with a clear message instead of becoming a huge engine query.
MAX_QUERY_LENGTH = 500
MAX_WORDS = 16
# A short prefix ("th*") expands to many of the most common words, and
# merging their lists costs 200 ms at a million posts; a last word shorter
# than this is searched as a whole word.
MIN_PREFIX_LENGTH = 4


class InvalidSearchQuery(ValueError):
    """The search text cannot be searched; the message is safe to show to the user."""


@dataclass(frozen=True)
class Term:
    """One thing every result must contain: a word, or a phrase in quotes.

    ``prefix``: the last word may be the start of a longer word (the query is
    still being typed).
    """

    words: tuple[str, ...]
    quoted: bool = False
    prefix: bool = False
    # SQLite: the indexed words the prefix stands for (see SqliteBackend.expand_prefixes).
    expansions: tuple[str, ...] = ()


@dataclass(frozen=True)
class ParsedQuery:
    terms: tuple[Term, ...]

    def __bool__(self) -> bool:
        return bool(self.terms)


_QUOTES = str.maketrans({"\u201c": '"', "\u201d": '"', "\u201e": '"', "\u00ab": '"', "\u00bb": '"'})
# Letters and digits; everything else (operators, *, parentheses, -, :, _) separates words,
# the way SQLite's unicode61 tokenizer and PostgreSQL's parser split text.
_WORD = re.compile(r"[^\W_]+")
# MariaDB/MySQL's FULLTEXT parser keeps "_" inside words ("john_doe" is one word).
_WORD_WITH_UNDERSCORE = re.compile(r"\w+")


def parse_query(text: str, *, underscore_in_words: bool = False) -> ParsedQuery:
    """Reduce user text to terms: words in any order and "quoted phrases".

    Raises :class:`InvalidSearchQuery` for text that is too long or has too
    many words. Text with no words (``"***"``, ``"()"``) gives an empty query.
    """
    if not isinstance(text, str):
        raise InvalidSearchQuery("The search must be text.")
    if len(text) > MAX_QUERY_LENGTH:
        raise InvalidSearchQuery(f"The search is too long: at most {MAX_QUERY_LENGTH} characters.")
    # NUL and other control characters are separators, never part of a word.
    text = "".join(" " if unicodedata.category(ch)[0] == "C" else ch for ch in text.translate(_QUOTES))
    text = unicodedata.normalize("NFC", text)
    word_re = _WORD_WITH_UNDERSCORE if underscore_in_words else _WORD
    terms: list[Term] = []
    # Split on quotes: odd chunks are inside quotes. An unbalanced quote makes
    # the rest of the text a phrase, as people type it.
    chunks = text.split('"')
    for i, chunk in enumerate(chunks):
        words = [w.casefold() for w in word_re.findall(chunk)]
        if not words:
            continue
        if i % 2 == 1:
            terms.append(Term(words=tuple(words), quoted=True))
        else:
            terms.extend(Term(words=(w,)) for w in words)
    if not terms:
        return ParsedQuery(terms=())
    if sum(len(t.words) for t in terms) > MAX_WORDS:
        raise InvalidSearchQuery(f"The search has too many words: at most {MAX_WORDS}.")
    # Prefix matching on the last word while it is being typed: the text ends
    # inside that word (no space after it), or inside an unclosed phrase.
    last = terms[-1]
    stripped = text.rstrip()
    # "djan*" asks for a prefix explicitly.
    ends_in_word = stripped == text and bool(re.search(r"[^\W_]\**$", text))
    unclosed_phrase = last.quoted and len(chunks) % 2 == 0 and stripped == text
    if (ends_in_word or unclosed_phrase) and len(last.words[-1]) >= MIN_PREFIX_LENGTH:
        terms[-1] = Term(words=last.words, quoted=last.quoted, prefix=True)
    # The same word twice adds nothing but work.
    unique = tuple(dict.fromkeys(terms))
    return ParsedQuery(terms=unique)


# Backends
