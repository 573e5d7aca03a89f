"""Localised customer-facing strings.

Catalogs are gettext ``.po`` files under ``locales/<lang>/LC_MESSAGES/messages.po``, read directly with
Babel at runtime (no ``.mo`` compilation step). Message ids are stable keys such as ``"survey.question"``;
the English catalog defines the key set and the fallback text. ``tests/test_i18n_catalogs.py`` holds every
catalog to it (keys, placeholders, markup, plural forms) and compiles each with Babel and GNU msgfmt.
"""

from collections.abc import Mapping
from functools import cache, lru_cache
from importlib.resources import files
from types import MappingProxyType

from babel import Locale
from babel.core import UnknownLocaleError
from babel.messages.pofile import read_po

__all__ = ["DEFAULT", "KEYS", "SUPPORTED", "accepted", "catalog", "negotiate", "supported", "t"]

SUPPORTED: tuple[str, ...] = ("en", "lt", "lv", "et", "uk", "hu", "de", "fr", "es", "pl", "pt", "it", "nl")
"""Language codes that have a catalog (exactly the directories under ``locales/``), in no order of preference."""

DEFAULT = "en"
"""Language used when negotiation fails and for keys missing from a catalog."""


@lru_cache(maxsize=1024)  # on every webhook; Babel's negotiation is slow next to a dict lookup
def supported(lang: str | None) -> str | None:
    """The supported code for a language tag such as ``"lt"``, ``"lt-LT"``, ``"LT_lt"`` or ``"uk_UA"``;
    None for empty, malformed or unsupported tags."""
    tag = (lang or "").strip().replace("-", "_")
    if not tag or tag == "*":
        return None
    found = Locale.negotiate([tag], SUPPORTED, sep="_")
    if found is None:
        # Locale.parse also understands forms negotiation does not, e.g. "lt@euro".
        try:
            found = Locale.parse(tag)
        except (ValueError, TypeError, UnknownLocaleError):
            return None
    return found.language if found.language in SUPPORTED else None


def negotiate(lang: str | None) -> str:
    """:func:`supported`, or :data:`DEFAULT` when the tag gives none."""
    return supported(lang) or DEFAULT


def accepted(header: str | None, limit: int = 20) -> str | None:
    """The supported language a browser prefers most, from its Accept-Language header
    (``"da, lt;q=0.8, en;q=0.7"`` gives ``"lt"``); None when it names none we have. Tags are ranked by
    their q value, ties in the order sent; q=0 means "not this one". Only the first `limit` are read."""
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate((header or "").split(",")[:limit]):
        tag, *params = (piece.strip() for piece in part.split(";"))
        weight = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        if tag and 0.0 < weight <= 1.0:  # also drops NaN, which fails every comparison
            ranked.append((-weight, position, tag))
    for _, _, tag in sorted(ranked):
        if found := supported(tag):
            return found
    return None


@cache
def catalog(lang: str) -> Mapping[str, str]:
    """Return the translated messages of a supported language as a read-only ``{key: text}`` mapping.

    Loaded once per process. Untranslated (empty) and fuzzy entries are left out, so they fall back.
    """
    if lang not in SUPPORTED:
        raise ValueError(f"unsupported language: {lang!r}")
    po_file = files(__name__) / "locales" / lang / "LC_MESSAGES" / "messages.po"
    with po_file.open("rb") as fh:
        po = read_po(fh, locale=lang, abort_invalid=True)
    return MappingProxyType(
        {
            message.id: message.string
            for message in po
            if message.id
            and isinstance(message.id, str)
            and isinstance(message.string, str)
            and message.string
            and not message.fuzzy
        }
    )


def t(lang: str | None, key: str, **params: object) -> str:
    """Translate ``key`` into the negotiated language and fill in ``params`` with :meth:`str.format`.

    Falls back to English when the catalog lacks the key, then to the key itself. A placeholder without a
    matching parameter raises :class:`KeyError`.
    """
    template = catalog(negotiate(lang)).get(key) or catalog(DEFAULT).get(key) or key
    return template.format(**params)


KEYS: frozenset[str] = frozenset(catalog(DEFAULT))
"""Every message key, as defined by the English catalog."""
