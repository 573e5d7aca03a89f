"""How the hosted pages look and what they may load: the stylesheet (brand colour, a scale that fits a
phone), the logo, and the security headers with a Content-Security-Policy built for exactly this page.

Everything is inline (no external resources except the optional logo), so the policy allows the one
stylesheet and the one script by their SHA-256 hashes, and images only from the logo's origin.
"""

from __future__ import annotations

import base64
import hashlib
import html
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from nps_bot.config import Settings
from nps_bot.models import SCALES

DEFAULT_COLOR = "#1264a3"
TEXT = "#1d1c1d"
# Posts a score chosen by a link (GET never records); without scripts the form's button does it.
AUTO_SUBMIT_SCRIPT = 'document.getElementById("answer").submit()'

# Sizes in rem, so the layout follows the reader's font size: 2.75rem is 44 px, the smallest touch target.
_TARGET = 2.75
_GAP = 0.375
_PAGE_PADDING = 1.0


def _luminance(color: str) -> float:
    """WCAG relative luminance of `#rrggbb`."""

    def channel(hex_pair: str) -> float:
        c = int(hex_pair, 16) / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(color[i : i + 2]) for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    """WCAG contrast ratio of two `#rrggbb` colours (1 to 21)."""
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def text_on(background: str) -> str:
    """Black or white, whichever contrasts more with the background (always at least 4.58:1)."""
    return "#000000" if contrast(background, "#000000") >= contrast(background, "#ffffff") else "#ffffff"


def _scale_css(count: int) -> str:
    """One row of `count` buttons with the end anchors under the first and the last; on a screen too
    narrow for a row of 44 px buttons, two rows, each end anchor right under its end button."""
    cls = f".scale-{count}"
    first_row = (count + 1) // 2
    half = count // 2
    one_row_width = count * _TARGET + (count - 1) * _GAP + 2 * _PAGE_PADDING
    return (
        f"{cls}{{grid-template-columns:repeat({count},minmax({_TARGET}rem,1fr))}}"
        f"{cls} .low{{grid-row:2;grid-column:1/span {half}}}"
        f"{cls} .high{{grid-row:2;grid-column:{count - half + 1}/-1}}"
        f"@media (max-width:{one_row_width}rem){{"
        f"{cls}{{grid-template-columns:repeat({first_row},minmax({_TARGET}rem,1fr))}}"
        f"{cls} .low{{grid-column:1/-1}}"
        f"{cls} button:nth-of-type(n+{first_row + 1}){{grid-row:3}}"
        f"{cls} .high{{grid-row:4;grid-column:1/span {count - first_row}}}}}"
    )


def _css(color: str) -> str:
    on_color = text_on(color)
    # A light brand colour on the white page needs an outline to be seen as a button.
    edge = TEXT if on_color == "#000000" else color
    return (
        "*{box-sizing:border-box}"
        f"body{{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 {_PAGE_PADDING}rem;"
        f"color:{TEXT};background:#fff;line-height:1.4}}"
        # The smallest phones (320 px) need the room for two rows of six 44 px buttons.
        f"@media (max-width:22.5rem){{body{{padding:0 {_PAGE_PADDING * 0.625}rem}}}}"
        "h1{font-size:1.4rem;margin:0 0 .5rem}"
        ".logo{display:block;max-height:3rem;max-width:12rem;margin-bottom:1.5rem}"
        "fieldset{border:0;margin:0 0 1rem;padding:0;min-width:0}"
        "legend{padding:0;margin-bottom:.75rem}"
        f".scale{{display:grid;gap:{_GAP}rem;margin:0}}"
        f".scale button{{min-width:{_TARGET}rem;min-height:{_TARGET}rem;padding:.4rem 0;border:1px solid #767676;"
        f"border-radius:.4rem;background:#fff;color:{TEXT};font:inherit;font-size:1.05rem;cursor:pointer}}"
        ".scale button:hover{background:#f1f1f1}"
        f".scale button[aria-pressed=true]{{background:{color};color:{on_color};border:2px solid {edge};"
        "font-weight:700;text-decoration:underline;text-underline-offset:.2em}"
        ".scale .low,.scale .high{color:#595959;font-size:.85rem;margin-top:.1rem}"
        ".scale .high{text-align:right}"
        + "".join(_scale_css(high - low + 1) for low, high in sorted(set(SCALES.values())))
        + f"button:focus-visible,textarea:focus-visible{{outline:3px solid {TEXT};outline-offset:2px}}"
        "label{display:block;margin:1rem 0 .5rem}"
        "textarea{display:block;width:100%;max-width:100%;min-height:7rem;font:inherit;padding:.5rem;"
        "border:1px solid #767676;border-radius:.4rem}"
        f".send{{margin-top:.75rem;min-height:{_TARGET}rem;padding:.6rem 1.2rem;font:inherit;border-radius:.4rem;"
        f"background:{color};color:{on_color};border:2px solid {edge};cursor:pointer}}"
    )


def _sha256_source(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


@dataclass(frozen=True)
class PageTheme:
    """The company's look for the hosted pages; the defaults are nps-bot's own, with no logo."""

    color: str = DEFAULT_COLOR
    logo_url: str | None = None
    css: str = field(init=False, repr=False, compare=False)
    headers: dict[str, str] = field(init=False, repr=False, compare=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> PageTheme:
        return cls(color=settings.brand_color or DEFAULT_COLOR, logo_url=settings.brand_logo_url)

    def __post_init__(self) -> None:
        css = _css(self.color)
        parts = urlsplit(self.logo_url) if self.logo_url else None
        img_src = f"{parts.scheme}://{parts.netloc}" if parts else "'none'"
        policy = "; ".join(
            (
                "default-src 'none'",
                f"style-src {_sha256_source(css)}",
                f"script-src {_sha256_source(AUTO_SUBMIT_SCRIPT)}",
                f"img-src {img_src}",
                "form-action 'self'",
                "base-uri 'none'",
                "frame-ancestors 'none'",
            )
        )
        object.__setattr__(self, "css", css)
        # Pages carry tokens in their forms: never cached by proxies, never sent on as a Referer.
        headers = {
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
            "X-Robots-Tag": "noindex",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": policy,
        }
        object.__setattr__(self, "headers", headers)

    def logo(self, company: str) -> str:
        """The logo as HTML, its alt text the company name; empty without a logo."""
        if not self.logo_url:
            return ""
        return (
            f'<img class="logo" src="{html.escape(self.logo_url, quote=True)}" '
            f'alt="{html.escape(company, quote=True)}">'
        )
