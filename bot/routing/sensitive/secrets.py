"""Secrets: keys, tokens, private keys, passwords, credentials in connection strings.

Most formats come from detect-secrets, Yelp's well-kept scanner: its regex-based plugins are
run over the whole text. Its entropy plugins are left out (every commit hash and UUID would
trip them), and so are those whose patterns match ordinary words in chat (Artifactory's
`AP…`) or duplicate our own categories (public IPs). What it does not know, or knows only
in the old format, is added below: current OpenAI and Anthropic keys, Google API keys and
service-account files, Azure AD client secrets, Slack app tokens, GitHub fine-grained
tokens, Hugging Face tokens, Stripe test keys, bearer tokens, and passwords written the
way people write them in chat (`password: hunter2`, `pwd=...`, `the password is ...`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from detect_secrets.plugins.aws import AWSKeyDetector
from detect_secrets.plugins.azure_storage_key import AzureStorageKeyDetector
from detect_secrets.plugins.base import RegexBasedDetector
from detect_secrets.plugins.basic_auth import BasicAuthDetector
from detect_secrets.plugins.discord import DiscordBotTokenDetector
from detect_secrets.plugins.github_token import GitHubTokenDetector
from detect_secrets.plugins.gitlab_token import GitLabTokenDetector
from detect_secrets.plugins.jwt import JwtTokenDetector
from detect_secrets.plugins.mailchimp import MailchimpDetector
from detect_secrets.plugins.npm import NpmDetector
from detect_secrets.plugins.openai import OpenAIDetector
from detect_secrets.plugins.private_key import PrivateKeyDetector
from detect_secrets.plugins.pypi_token import PypiTokenDetector
from detect_secrets.plugins.sendgrid import SendGridDetector
from detect_secrets.plugins.slack import SlackDetector
from detect_secrets.plugins.square_oauth import SquareOAuthDetector
from detect_secrets.plugins.stripe import StripeDetector
from detect_secrets.plugins.telegram_token import TelegramBotTokenDetector
from detect_secrets.plugins.twilio import TwilioKeyDetector

from bot.routing.sensitive.linear_time import prefer_linear

Span = tuple[int, int, str]

_PLUGINS: tuple[type[RegexBasedDetector], ...] = (
    AWSKeyDetector,
    AzureStorageKeyDetector,
    BasicAuthDetector,
    DiscordBotTokenDetector,
    GitHubTokenDetector,
    GitLabTokenDetector,
    JwtTokenDetector,
    MailchimpDetector,
    NpmDetector,
    OpenAIDetector,
    PrivateKeyDetector,
    PypiTokenDetector,
    SendGridDetector,
    SlackDetector,
    SquareOAuthDetector,
    StripeDetector,
    TelegramBotTokenDetector,
    TwilioKeyDetector,
)


def _kind(plugin: type[RegexBasedDetector]) -> str:
    return str(plugin.secret_type).lower().replace(" ", "_")


_LIBRARY_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (pattern, _kind(plugin))
    for plugin in _PLUGINS
    for pattern in plugin.denylist  # type: ignore[attr-defined]  # a class attribute, typed as a property
]

_SECRET_WORDS = (
    r"(?:password|passwd|passphrase|passcode|pwd|pass|secret|client[_-]?secret|api[_-]?key|"
    r"apikey|access[_-]?key|secret[_-]?key|private[_-]?key|access[_-]?token|auth[_-]?token|"
    r"refresh[_-]?token|token|credentials?|mot de passe|passwort|contraseña|senha)"
)
# Substrings one of which every word in _SECRET_WORDS contains: a cheap test first.
_SECRET_WORD_MARKERS = (
    "pass",
    "pwd",
    "secret",
    "key",
    "token",
    "credential",
    "mot de passe",
    "contraseña",
    "senha",
)
_NOT_A_SECRET = frozenset(
    {
        "true", "false", "none", "null", "nil", "empty", "required", "optional", "redacted",
        "changeme", "example", "xxx", "xxxx", "****", "<redacted>", "hidden", "unset", "missing",
        "expired", "invalid", "correct", "wrong", "incorrect", "reset", "set", "needed",
    }
)  # fmt: skip

# Each pattern starts with its literal prefix, so the regex engine can jump to it; the check
# that no word character comes before the prefix is a lookbehind placed after it.
_OWN_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (
        re.compile(
            r"sk-(?<![\w-]sk-)(?:proj|svcacct|admin|ant-api\d\d|ant-admin\d\d)-[A-Za-z0-9_\-]{20,300}"
        ),
        "openai_or_anthropic_key",
    ),
    (re.compile(r"sk-(?<![\w-]sk-)[A-Za-z0-9]{32,300}(?![\w-])"), "openai_key"),
    (re.compile(r"AIza(?<![\w-]AIza)[0-9A-Za-z_\-]{35}(?![\w-])"), "google_api_key"),
    (
        re.compile(r'"type"\s*:\s*"service_account"|"private_key_id"\s*:\s*"[0-9a-f]{40}"'),
        "google_service_account",
    ),
    (
        re.compile(r"(?<![\w~.\-])[A-Za-z0-9_~.\-]{3}\dQ~[A-Za-z0-9_~.\-]{31,34}(?![\w~.\-])"),
        "azure_client_secret",
    ),
    (re.compile(r"(?:SharedAccessKey|AccountKey)=[A-Za-z0-9+/=]{20,}"), "azure_key"),
    (
        re.compile(r"xapp-(?<![\w-]xapp-)\d-[A-Z0-9]{1,40}-\d{1,20}-[a-f0-9]{20,200}"),
        "slack_app_token",
    ),
    (re.compile(r"xox(?<![\w-]xox)[abposre]-[A-Za-z0-9-]{10,300}"), "slack_token"),
    (re.compile(r"github_pat_(?<![\w-]github_pat_)[A-Za-z0-9_]{22,300}"), "github_token"),
    (re.compile(r"hf_(?<![\w-]hf_)[A-Za-z0-9]{30,200}(?![\w-])"), "huggingface_token"),
    (re.compile(r"(?:sk|rk)_(?:test|live)_[0-9a-zA-Z]{20,}"), "stripe_key"),
    # Credentials in a URL: scheme://user:password@host (any characters in the password).
    (re.compile(r"(?i)\b[a-z][a-z0-9+.\-]*://[^\s:/@]+:[^\s@/]+@[\w.\-]+"), "url_credentials"),
    (re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/\-]{20,}=*"), "bearer_token"),
    (re.compile(r"-----BEGIN (?:[A-Z ]+ )?PRIVATE KEY(?: BLOCK)?-----"), "private_key"),
]
_ASSIGNED = re.compile(
    rf"(?i)\b{_SECRET_WORDS}\b[\"']?\s{{0,8}}(?P<op>[:=]|=>|\bis\b|\bwas\b)\s{{0,8}}[\"'`]?(?P<value>[^\s\"'`,;]{{4,300}})"
)


def _looks_secret(value: str, op: str) -> bool:
    if value.lower().strip(".!?") in _NOT_A_SECRET or value.startswith(("{{", "${", "<", "$")):
        return False
    if op.lower() in {"is", "was"}:
        # "the token is stored in vault" is prose; "the password is hunter2" is a secret.
        return any(ch.isdigit() for ch in value) or not value.isalpha()
    return True


# Every key and token format above is at least 16 characters of one "word". Those patterns
# run only on the stretches of text around such runs (hashes, keys, URLs), not on the whole
# message; URLs with credentials and PEM blocks have their own markers.
_LONG_RUN = re.compile(r"[\w\-+/=.~:]{16,}")
_MAX_STRETCHES = 3
_MARGIN = 48  # characters of context kept around a run, for patterns like `aws ... key = '...'`
_GATES: dict[str, tuple[str, ...]] = {
    "url_credentials": ("://",),
    "basic_auth_credentials": ("://",),
    "private_key": ("PRIVATE", "PuTTY"),
    "google_service_account": ("service_account", "private_key_id"),
    "azure_key": ("AccountKey=", "SharedAccessKey="),
}


# Commit hashes, UUIDs, digests and plain numbers: no key format above is only hex digits,
# dashes, dots and colons, so such runs need no look (keys assigned to a name are found by
# the password patterns below).
_HARMLESS_RUN = re.compile(r"[0-9a-fA-F\-.:]+|[\d.,:/\-]+")


def _stretches(text: str) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for m in _LONG_RUN.finditer(text):
        if _HARMLESS_RUN.fullmatch(m.group()):
            continue
        start, end = max(0, m.start() - _MARGIN), min(len(text), m.end() + 2)
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


# Every pattern RE2 can run is run by RE2 (linear in the text, whatever the text: the
# library's `sk-[A-Za-z0-9-_]*...` took 4.7 s on 40 KB of `sk-sk-sk-`); the others start
# with a literal and a look-behind, and every repetition in them is bounded.
_ALL = [(prefer_linear(p), k) for p, k in (*_LIBRARY_PATTERNS, *_OWN_PATTERNS)]
_GATED = [(p, k, re.compile("|".join(map(re.escape, _GATES[k])))) for p, k in _ALL if k in _GATES]
_IN_STRETCHES = [(p, k) for p, k in _ALL if k not in _GATES]
_SECRET_WORD_GATE = re.compile("|".join(map(re.escape, _SECRET_WORD_MARKERS)))


def find_secrets(text: str) -> Iterator[Span]:
    for pattern, kind, gate in _GATED:
        if gate.search(text):
            for m in pattern.finditer(text):
                yield m.start(), m.end(), kind
    stretches = _stretches(text)
    if len(stretches) > _MAX_STRETCHES:
        stretches = [(0, len(text))]  # long text full of runs: one pass each is cheaper
    for start, end in stretches:
        for pattern, kind in _IN_STRETCHES:
            for m in pattern.finditer(text, start, end):
                yield m.start(), m.end(), kind
    if not _SECRET_WORD_GATE.search(text.lower()):
        return
    for m in _ASSIGNED.finditer(text):
        if _looks_secret(m.group("value"), m.group("op")):
            yield m.start("value"), m.end("value"), "password"
