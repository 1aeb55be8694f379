"""Keeps bot tokens out of logs and error text: the token is part of every Bot API URL."""

from __future__ import annotations

import logging

_TOKENS: set[str] = set()
# httpx logs every request URL at INFO and python-telegram-bot logs its base URL at DEBUG.
_LOGGER_PREFIXES = ("httpx", "httpcore", "telegram", "uvicorn")
PLACEHOLDER = "<bot-token>"


def scrub(text: str) -> str:
    for token in _TOKENS:
        if token:
            text = text.replace(token, PLACEHOLDER)
    return text


class _Redactor(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not _TOKENS:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is the handler's problem, not ours
            return True
        clean = scrub(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = scrub(logging.Formatter().formatException(record.exc_info))
        return True


_REDACTOR = _Redactor()


def protect(token: str) -> None:
    """Register `token` for scrubbing and filter every client logger that could print it."""
    _TOKENS.add(token)
    names = [
        n for n in list(logging.root.manager.loggerDict) if n.split(".")[0] in _LOGGER_PREFIXES
    ]
    for name in {*names, *_LOGGER_PREFIXES}:
        logger = logging.getLogger(name)
        if _REDACTOR not in logger.filters:
            logger.addFilter(_REDACTOR)


class TelegramFailure(Exception):
    """A Bot API call failed; the message never contains the token."""

    def __init__(self, message: str) -> None:
        super().__init__(scrub(message))
