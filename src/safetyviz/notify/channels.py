"""Sending one message through one channel: e-mail over SMTP, or a webhook in the format of a
DingTalk or WeCom group robot, or a plain JSON POST.

DingTalk robots with 加签 take ``timestamp`` and ``sign`` in the address (HMAC-SHA256 of
``"{timestamp}\\n{secret}"`` keyed by the secret, base64, URL-quoted); a generic hook with a
secret gets ``X-Safetyviz-Signature: sha256=<hex HMAC of the body>``. Every failure — a
refused connection, a timeout, an HTTP error, a robot's non-zero ``errcode`` — is a
:class:`ChannelError` (the outbox tries again later).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import smtplib
import time
import urllib.error
import urllib.parse
import urllib.request
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

from safetyviz.notify.rules import Smtp, Webhook

TIMEOUT_S = 10.0


class ChannelError(Exception):
    """A message that did not go out (it is tried again later)."""


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's signature of a robot message sent at ``timestamp_ms``."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(),
                      hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def body_signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def send_email(smtp: Smtp, to: str, subject: str, text: str, key: str,
               attachments: tuple[Path, ...] = ()) -> None:
    """``text`` to ``to``, with ``attachments`` (a PDF or HTML bulletin)."""
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = smtp.sender, to, subject
    message["Date"] = formatdate(localtime=True)
    # one id per message key: a mail system that sees it twice can tell
    message["Message-ID"] = make_msgid(idstring=hashlib.sha256(key.encode()).hexdigest()[:16],
                                       domain="safetyviz")
    message.set_content(text)
    for path in attachments:
        try:
            content = path.read_bytes()
        except OSError as exc:
            raise ChannelError(f"attachment {path.name}: {exc}") from None
        if path.suffix == ".pdf":
            message.add_attachment(content, maintype="application", subtype="pdf",
                                   filename=path.name)
        else:  # text, with its charset
            message.add_attachment(content.decode("utf-8"), subtype="html",
                                   filename=path.name)
    try:
        with smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout) as server:
            if smtp.starttls:
                server.starttls()
            if smtp.user:
                server.login(smtp.user, smtp.password or "")
            server.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        raise ChannelError(f"SMTP {smtp.host}:{smtp.port}: {exc}") from None


def webhook_request(hook: Webhook, subject: str, body: dict,
                    now_ms: int | None = None) -> urllib.request.Request:
    """The POST of a message to ``hook`` in its format (signed where it signs)."""
    url = hook.url
    if hook.format == "dingtalk":
        payload = {"msgtype": "markdown",
                   "markdown": {"title": subject, "text": body["markdown"]}}
        if hook.secret:
            stamp = int(time.time() * 1000) if now_ms is None else now_ms
            sign = urllib.parse.quote_plus(dingtalk_sign(hook.secret, stamp))
            url += ("&" if "?" in url else "?") + f"timestamp={stamp}&sign={sign}"
    elif hook.format == "wecom":
        payload = {"msgtype": "markdown", "markdown": {"content": body["markdown"]}}
    else:
        payload = {"subject": subject, "text": body["text"], **body["facts"]}
    data = json.dumps(payload, ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json; charset=utf-8"}
    if hook.format == "json" and hook.secret:
        headers["X-Safetyviz-Signature"] = body_signature(hook.secret, data)
    return urllib.request.Request(url, data=data, headers=headers, method="POST")


def send_webhook(hook: Webhook, subject: str, body: dict) -> None:
    request = webhook_request(hook, subject, body)
    where = urllib.parse.urlsplit(hook.url)._replace(query="").geturl()  # not the token
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            answer = response.read(65536)
    except (OSError, urllib.error.URLError) as exc:
        raise ChannelError(f"{hook.format} {where}: {exc}") from None
    if hook.format in ("dingtalk", "wecom"):  # robots answer 200 with an error code
        try:
            code = json.loads(answer or b"{}").get("errcode", 0)
        except (ValueError, AttributeError):
            code = None
        if code != 0:
            raise ChannelError(f"{hook.format} {where}: answered {answer[:200]!r}")
