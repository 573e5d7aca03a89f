"""The survey as an e-mail: plain text and HTML alternatives, built with the standard library.

The body reuses the survey text every non-chat channel sends (nps_bot.surveys.text: greeting,
question, one link per score of the survey's scale, NPS legend), in the survey's language, with a
footer saying why the customer gets it and how to stop. Customer and company text is escaped in the
HTML part; header values go through `email.headerregistry` (encoded, never injected).

Headers: From, To, optional Reply-To, Subject, Date, a Message-ID that stays the same for a survey
across retries (receivers can drop a duplicate), List-Unsubscribe (the signed https link, optionally
a mailto) with List-Unsubscribe-Post (RFC 8058 one-click), and Auto-Submitted (RFC 3834) so
out-of-office responders stay quiet. The one reminder (`OutgoingSurvey.reminder`) says so in its
subject and first line, has its own Message-ID and answers the first e-mail (In-Reply-To).
"""

from __future__ import annotations

import hashlib
import html
import re
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from urllib.parse import quote

from nps_bot.models import OutgoingSurvey
from nps_bot.surveys import i18n
from nps_bot.surveys.text import as_html, as_text

__all__ = ["build_message", "message_id", "recipient"]

_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
# Headers may be longer than 78 characters rather than folded: Python would fold the long, unbreakable
# List-Unsubscribe URL into RFC 2047 encoded words, which mail clients do not read as a URL.
_SEND_POLICY = SMTP.clone(max_line_length=998)


def recipient(survey: OutgoingSurvey) -> Address:
    """The customer as a To address; ValueError for an address the header parser refuses."""
    if not survey.customer_email:
        raise ValueError("no e-mail address")
    name = _CONTROL.sub(" ", survey.customer_name or "").strip()
    return Address(display_name=name[:200], addr_spec=survey.customer_email)


def message_id(survey: OutgoingSurvey, domain: str, *, reminder: bool = False) -> str:
    """Stable per survey (a retry after a lost answer from the server sends the same id), and
    unguessable: a hash of the secret survey token, never the token itself. The reminder has its own
    id: receivers drop a second message with the first one's id as a duplicate."""
    kind = "reminder" if reminder else "survey"
    salt = "nps-bot-reminder-id" if reminder else "nps-bot-message-id"
    digest = hashlib.sha256(f"{salt}:{survey.token}".encode()).hexdigest()[:24]
    return f"<nps-{kind}.{survey.id}.{digest}@{domain}>"


def _list_unsubscribe(url: str, mailto: str | None) -> str:
    targets = [f"<{url}>"]
    if mailto:
        targets.append(f"<mailto:{quote(mailto, safe='@')}?subject=unsubscribe>")
    return ", ".join(targets)


def text_body(survey: OutgoingSurvey, unsubscribe_url: str) -> str:
    lang = survey.language
    reminder = f"{i18n.t(lang, 'survey.reminder')}\n\n" if survey.reminder else ""
    return (
        f"{reminder}{as_text(survey)}\n\n{i18n.t(lang, 'email.click_hint')}\n\n-- \n"
        f"{i18n.t(lang, 'email.why', company=survey.company)}\n"
        f"{i18n.t(lang, 'email.unsubscribe')}: {unsubscribe_url}\n"
    )


def html_body(survey: OutgoingSurvey, subject: str, unsubscribe_url: str) -> str:
    lang = survey.language
    hint = html.escape(i18n.t(lang, "email.click_hint"))
    why = html.escape(i18n.t(lang, "email.why", company=survey.company))
    unsubscribe = html.escape(i18n.t(lang, "email.unsubscribe"))
    reminder = f"<p><em>{html.escape(i18n.t(lang, 'survey.reminder'))}</em></p>\n" if survey.reminder else ""
    # The hidden first line is the preview inbox lists show next to the subject.
    return (
        f'<!doctype html><html lang="{html.escape(lang)}"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{html.escape(subject)}</title></head>"
        f'<body style="font-family:Arial,Helvetica,sans-serif;font-size:15px;line-height:1.4;color:#1d1c1d">'
        f'<div style="display:none;max-height:0;overflow:hidden">{hint}</div>\n'
        f"{reminder}{as_html(survey)}\n"
        f'<p style="color:#666;font-size:13px">{hint}</p>\n'
        f'<hr style="border:none;border-top:1px solid #ddd">'
        f'<p style="color:#666;font-size:12px">{why}<br>'
        f'<a href="{html.escape(unsubscribe_url)}" style="color:#666">{unsubscribe}</a></p>'
        f"</body></html>\n"
    )


def build_message(
    survey: OutgoingSurvey,
    *,
    sender: Address,
    reply_to: Address | None,
    unsubscribe_url: str,
    unsubscribe_mailto: str | None,
    now: datetime,
) -> EmailMessage:
    """The e-mail for one survey; ValueError when the customer's address cannot be a To header."""
    lang = survey.language
    subject_key = "email.reminder_subject" if survey.reminder else "email.subject"
    subject = i18n.t(lang, subject_key, company=_CONTROL.sub(" ", survey.company))
    msg = EmailMessage(policy=SMTP)
    msg["From"] = sender
    msg["To"] = recipient(survey)
    if reply_to is not None:
        msg["Reply-To"] = reply_to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = message_id(survey, sender.domain, reminder=survey.reminder)
    if survey.reminder:  # threaded under the first e-mail, whose links keep working
        msg["In-Reply-To"] = msg["References"] = message_id(survey, sender.domain)
    msg["List-Unsubscribe"] = _list_unsubscribe(unsubscribe_url, unsubscribe_mailto)
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Auto-Response-Suppress"] = "OOF, AutoReply"
    # Quoted-printable: 7-bit safe for every server, lines wrapped at 76 (the policy in force now).
    msg.set_content(text_body(survey, unsubscribe_url), cte="quoted-printable")
    msg.add_alternative(html_body(survey, subject, unsubscribe_url), subtype="html", cte="quoted-printable")
    msg["Content-Language"] = lang  # after the content: setting it clears Content-* headers
    msg.policy = _SEND_POLICY  # bodies are encoded; only header folding changes
    return msg
