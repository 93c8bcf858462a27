"""The one configuration object: ``config.toml`` plus ``AGGREGATOR_*`` overrides, loaded once.

Every setting is declared once below, as a dataclass field with its default and a
help text (``metadata["help"]``); the loader, the documentation test and
``aggregator config show`` all read these declarations. A bad file is reported as
one line naming the file, the line and the key. Secrets never come from the file:
the file names an environment variable (``password_env``) and the value is read here.

``Settings`` is passed as an argument everywhere; no module reads a global config.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import MISSING, Field, dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aggregator.errors import ConfigError
from aggregator.model import IDENTITY_POLICIES, LOCALES

CONFIG_ENV = "AGGREGATOR_CONFIG"
DEFAULT_CONFIG = "config.toml"


def _help(text: str, **extra: Any) -> dict[str, Any]:
    return {"help": text, **extra}


@dataclass(frozen=True, slots=True)
class StorageSettings:
    url: str = field(
        default="sqlite:///var/aggregator.db",
        metadata=_help(
            "Database URL. SQLite (relative paths resolve against the config file's folder) "
            "or postgresql+psycopg://user@host/db."
        ),
    )
    retention_days: int = field(
        default=0,
        metadata=_help(
            "Days an entry is kept after it was first seen; 0 keeps every entry. Pruned "
            "entries leave a tombstone, so an item its feed still lists is not new again. "
            "Entries in a digest issue from the last retention_days are kept with it."
        ),
    )
    tombstone_days: int = field(
        default=30,
        metadata=_help(
            "Days a tombstone outlives the last fetch that listed its item; an item "
            "listed again after that is new again."
        ),
    )


@dataclass(frozen=True, slots=True)
class FetchSettings:
    concurrency: int = field(default=10, metadata=_help("Feeds fetched at the same time."))
    per_host: int = field(default=2, metadata=_help("Requests in flight to one host at once."))
    timeout: float = field(
        default=30.0, metadata=_help("Seconds allowed for one whole fetch, redirects included.")
    )
    connect_timeout: float = field(
        default=10.0, metadata=_help("Seconds allowed to open a connection.")
    )
    read_timeout: float = field(
        default=20.0, metadata=_help("Seconds allowed between two pieces of the body.")
    )
    interval_minutes: int = field(
        default=30,
        metadata=_help("Minutes between polls of a feed whose publishing rate is unknown."),
    )
    min_interval_minutes: int = field(
        default=5, metadata=_help("Shortest wait between two polls of one feed, whatever it says.")
    )
    max_interval_minutes: int = field(
        default=1440, metadata=_help("Longest wait between two polls of a healthy feed.")
    )
    max_backoff_minutes: int = field(
        default=720, metadata=_help("Longest wait between polls of a failing feed.")
    )
    stale_after_hours: int = field(
        default=24,
        metadata=_help("A feed failing this long is flagged stale (and still retried)."),
    )
    redirect_confirmations: int = field(
        default=3,
        metadata=_help("Permanent redirects seen in a row before the stored URL changes."),
    )
    max_body_bytes: int = field(
        default=10_000_000,
        metadata=_help("Largest feed body accepted, counted after decompression."),
    )
    max_redirects: int = field(default=5, metadata=_help("Redirects followed per fetch."))
    max_entries: int = field(default=200, metadata=_help("Entries kept from one fetch."))
    allow_private_networks: bool = field(
        default=False,
        metadata=_help("Allow feeds on loopback and private addresses (off: SSRF guard)."),
    )
    allow_hosts: tuple[str, ...] = field(
        default=(),
        metadata=_help(
            'Hosts ("host" or "host:port") allowed even on private addresses, e.g. an intranet.'
        ),
    )
    user_agent: str = field(
        default="aggregator/0.1 (+https://example.invalid/aggregator)",
        metadata=_help("User-Agent header sent with every request."),
    )


@dataclass(frozen=True, slots=True)
class ParseSettings:
    timeout: float = field(
        default=10.0,
        metadata=_help("Seconds one ill-formed feed may take in the tolerant parser."),
    )
    memory_mb: int = field(
        default=1024, metadata=_help("Memory the tolerant parser's process may use, in MB.")
    )
    workers: int = field(
        default=0,
        metadata=_help(
            "Processes that parse and normalize fetched feeds: 0 = one per CPU core, "
            "1 = none (all in the main process). Clustering a backlog signs entries in "
            "this many less one, beside its own process."
        ),
    )
    iframe_hosts: tuple[str, ...] = field(
        default=(),
        metadata=_help(
            "Hosts whose embedded frames entries keep (https only, sandboxed), e.g. "
            '"www.youtube-nocookie.com"; every other iframe is removed.'
        ),
    )

    @property
    def frame_hosts(self) -> frozenset[str]:
        """``iframe_hosts`` as the sanitizer takes them."""
        return frozenset(host.lower() for host in self.iframe_hosts)


@dataclass(frozen=True, slots=True)
class FeedSettings:
    url: str = field(
        default="",
        metadata=_help("Feed URL (http/https) or a local file path.", required=True),
    )
    title: str = field(default="", metadata=_help("Display title; the feed's own when empty."))
    tags: tuple[str, ...] = field(default=(), metadata=_help("Tags used by digest filters."))
    identity: str = field(
        default="auto",
        metadata=_help(
            'How entries are told apart: "auto", "guid", "link" (the feed rewrites guids) '
            'or "content" (guids and links both change).'
        ),
    )
    priority: int = field(
        default=0,
        metadata=_help(
            "Digest ranking: among stories with as many sources, those from higher-priority "
            "feeds come first."
        ),
    )


@dataclass(frozen=True, slots=True)
class ClusterSettings:
    window_hours: float = field(
        default=72.0,
        metadata=_help("An entry joins only stories active within this window."),
    )
    threshold: float = field(
        default=0.2,
        metadata=_help(
            "Weighted overlap (0 to 1) of title words, names, numbers and dates at which an"
            " entry joins a story's entry (a paraphrase, also across languages)."
        ),
    )
    duplicate: float = field(
        default=0.4,
        metadata=_help(
            "Estimated Jaccard similarity (0 to 1) of word bigrams at which an entry joins"
            " as a near-duplicate (a syndicated or lightly edited copy)."
        ),
    )


@dataclass(frozen=True, slots=True)
class PublishSettings:
    output_dir: str = field(
        default="var/public", metadata=_help("Folder written by `aggregator publish`.")
    )
    base_url: str = field(
        default="http://127.0.0.1:8080",
        metadata=_help("Public URL of the site, used in feed ids and email links."),
    )
    title: str = field(default="Aggregator", metadata=_help("Title of the published feeds."))
    max_entries: int = field(
        default=500,
        metadata=_help("Entries in one page of a published feed; older ones on its next pages."),
    )
    locale: str = field(
        default="en", metadata=_help('Language of the web pages\' own words: "en" or "vi".')
    )
    cache_mb: int = field(
        default=64,
        metadata=_help(
            "Memory the web server keeps rendered feeds and their items in, in MB, as "
            "Python holds them; the least recently used go first."
        ),
    )
    websub_hubs: tuple[str, ...] = field(
        default=(),
        metadata=_help(
            "WebSub hubs (http/https) named in every feed and told when a feed changes; "
            "empty: no WebSub."
        ),
    )


@dataclass(frozen=True, slots=True)
class ServerSettings:
    host: str = field(default="127.0.0.1", metadata=_help("Address the web server binds to."))
    port: int = field(default=8080, metadata=_help("Port the web server listens on."))
    trusted_proxies: tuple[str, ...] = field(
        default=(),
        metadata=_help(
            "Addresses of reverse proxies whose X-Forwarded-Proto and X-Forwarded-For are "
            "believed; empty: those headers are ignored."
        ),
    )
    subscribe_per_client_hour: int = field(
        default=10,
        metadata=_help("Most subscribe form posts from one client address an hour; 0: no limit."),
    )


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    host: str = field(default="localhost", metadata=_help("SMTP server host."))
    port: int = field(default=587, metadata=_help("SMTP server port."))
    starttls: bool = field(default=True, metadata=_help("Upgrade the connection with STARTTLS."))
    ssl: bool = field(default=False, metadata=_help("Use implicit TLS (port 465) instead."))
    username: str = field(default="", metadata=_help("SMTP AUTH user; empty for no AUTH."))
    password_env: str = field(
        default="AGGREGATOR_SMTP_PASSWORD",
        metadata=_help("Environment variable holding the SMTP password."),
    )
    timeout: float = field(default=30.0, metadata=_help("Seconds allowed per SMTP command."))
    max_per_second: float = field(
        default=0.0,
        metadata=_help("Most messages sent per second (a provider's limit); 0: no limit."),
    )
    connections: int = field(
        default=4,
        metadata=_help("SMTP connections open at once, each reused for many messages."),
    )
    password: str = field(default="", repr=False, metadata=_help("", secret=True, internal=True))


@dataclass(frozen=True, slots=True)
class MailSettings:
    transport: str = field(
        default="maildir",
        metadata=_help('How digests leave: "maildir", "smtp", or "stdout" (a preview).'),
    )
    maildir: str = field(
        default="var/mail", metadata=_help("Maildir folder for the maildir transport.")
    )
    sender: str = field(
        default="Aggregator <digest@localhost>",
        metadata=_help("From address of digest emails.", key="from"),
    )
    unsubscribe_address: str = field(
        default="",
        metadata=_help("Address in the mailto: List-Unsubscribe header; empty: the From address."),
    )
    unsubscribe_maildir: str = field(
        default="",
        metadata=_help(
            "Maildir the mail to unsubscribe_address is delivered into; the daemon acts "
            "on its requests each tick; empty: mailed requests are not read."
        ),
    )
    confirm_days: int = field(
        default=7, metadata=_help("Days a subscription confirmation link stays valid.")
    )
    confirmations_per_address_day: int = field(
        default=3,
        metadata=_help("Most confirmation emails to one address in 24 hours; 0: no limit."),
    )
    confirmations_per_hour: int = field(
        default=100,
        metadata=_help("Most confirmation emails to anyone in an hour; 0: no limit."),
    )
    dkim_key_file: str = field(
        default="",
        metadata=_help("PEM file of the DKIM private key; empty: messages are not signed."),
    )
    dkim_domain: str = field(default="", metadata=_help("DKIM signing domain (d=)."))
    dkim_selector: str = field(default="", metadata=_help("DKIM selector (s=)."))
    sending_lease_seconds: int = field(
        default=600,
        metadata=_help(
            "Seconds after which a delivery left in `sending` (its sender crashed) is "
            "sent again; longer than any one SMTP transaction."
        ),
    )
    smtp: SmtpSettings = field(default_factory=SmtpSettings, metadata=_help("SMTP transport."))


@dataclass(frozen=True, slots=True)
class DigestSettings:
    name: str = field(default="", metadata=_help("Short name used on the CLI.", required=True))
    title: str = field(default="", metadata=_help("Title shown in the email subject."))
    schedule: str = field(
        default="0 7 * * *", metadata=_help("Cron expression (minute hour day month weekday).")
    )
    timezone: str = field(default="UTC", metadata=_help("Time zone the schedule is read in."))
    subscribers: tuple[str, ...] = field(
        default=(), metadata=_help("Email addresses subscribed from the config file.")
    )
    tags: tuple[str, ...] = field(
        default=(), metadata=_help("Only entries of feeds with one of these tags; empty: all.")
    )
    feeds: tuple[str, ...] = field(
        default=(),
        metadata=_help("Only entries of these feeds (URLs or paths as in [[feeds]]); empty: all."),
    )
    languages: tuple[str, ...] = field(
        default=(), metadata=_help('Only entries in these languages, e.g. ["vi"]; empty: all.')
    )
    keywords: tuple[str, ...] = field(
        default=(),
        metadata=_help(
            "Only stories with an entry whose title or summary contains one of these words "
            "or phrases (any case); empty: all."
        ),
    )
    max_stories: int = field(default=20, metadata=_help("Most stories in one issue."))
    locale: str = field(
        default="en",
        metadata=_help('Language of the email\'s own words, dates and numbers: "en" or "vi".'),
    )
    send_empty: bool = field(
        default=False,
        metadata=_help("Send an issue even when no story is new (it says so); off: skip it."),
    )
    max_per_feed: int = field(
        default=0, metadata=_help("Most stories led by one feed in one issue; 0: no cap.")
    )


@dataclass(frozen=True, slots=True)
class ScheduleSettings:
    tick_seconds: int = field(
        default=30, metadata=_help("Seconds between two checks for due feeds and digests.")
    )
    digest_grace_hours: int = field(
        default=12,
        metadata=_help(
            "A digest run missed while the daemon was down is sent at start-up if it is "
            "at most this many hours old; an older one is skipped (and logged)."
        ),
    )
    catch_up_minutes: int = field(
        default=15,
        metadata=_help(
            "After downtime, feeds overdue by more than this many minutes, beyond one "
            "pass's worth, are spread over as many minutes instead of polled at once."
        ),
    )


@dataclass(frozen=True, slots=True)
class Settings:
    storage: StorageSettings = field(default_factory=StorageSettings, metadata=_help("Storage."))
    fetch: FetchSettings = field(default_factory=FetchSettings, metadata=_help("Fetching."))
    parse: ParseSettings = field(default_factory=ParseSettings, metadata=_help("Parsing."))
    feeds: tuple[FeedSettings, ...] = field(default=(), metadata=_help("Feeds to poll."))
    cluster: ClusterSettings = field(
        default_factory=ClusterSettings, metadata=_help("Story clustering.")
    )
    publish: PublishSettings = field(
        default_factory=PublishSettings, metadata=_help("Published feeds and pages.")
    )
    server: ServerSettings = field(default_factory=ServerSettings, metadata=_help("Web server."))
    mail: MailSettings = field(default_factory=MailSettings, metadata=_help("Email."))
    digests: tuple[DigestSettings, ...] = field(default=(), metadata=_help("Email digests."))
    schedule: ScheduleSettings = field(
        default_factory=ScheduleSettings, metadata=_help("Daemon scheduling.")
    )
    config_path: str = field(default="", metadata=_help("", internal=True))

    def digest(self, name: str) -> DigestSettings | None:
        return next((d for d in self.digests if d.name == name), None)

    def identity_of(self, feed_url: str) -> str:
        """The identity policy the config gives this feed; "auto" for others."""
        return next((f.identity for f in self.feeds if f.url == feed_url), "auto")


# ---------------------------------------------------------------------------
# Loading


class _LineIndex:
    """Maps dotted key paths (``feeds[1].url``) to line numbers.

    tomllib reports syntax errors with a line but returns plain dicts, so we scan
    the text once to be able to name the line of a key that is valid TOML but a
    wrong setting.
    """

    _header = re.compile(r"^\s*\[(\[)?\s*([A-Za-z0-9_.\-]+)\s*\]")
    _key = re.compile(r"^\s*([A-Za-z0-9_\-]+)\s*=")

    def __init__(self, text: str) -> None:
        self.lines: dict[str, int] = {}
        counts: dict[str, int] = {}
        current = ""
        for number, line in enumerate(text.splitlines(), start=1):
            header = self._header.match(line)
            if header:
                name = header.group(2)
                if header.group(1):  # [[array.of.tables]]
                    counts[name] = counts.get(name, 0) + 1
                    current = f"{name}[{counts[name] - 1}]"
                else:
                    current = self._in_array(name, counts)
                self.lines.setdefault(current, number)
                continue
            key = self._key.match(line)
            if key:
                path = f"{current}.{key.group(1)}" if current else key.group(1)
                self.lines.setdefault(path, number)

    @staticmethod
    def _in_array(name: str, counts: dict[str, int]) -> str:
        # "[digests.filters]" after "[[digests]]" belongs to the last digest.
        head, _, rest = name.partition(".")
        if rest and head in counts:
            return f"{head}[{counts[head] - 1}].{rest}"
        return name

    def line(self, path: str) -> int | None:
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path.rpartition(".")[0] if "." in path else ""
        return None


class _Loader:
    def __init__(self, source: str, text: str) -> None:
        self.source = source
        self.index = _LineIndex(text)

    def error(self, path: str, problem: str) -> ConfigError:
        line = self.index.line(path)
        where = f"{self.source}:{line}" if line else self.source
        return ConfigError(f"{where}: {problem}")

    def build(self, cls: type[Any], table: Mapping[str, Any], path: str) -> Any:
        hints, known = _field_table(cls)
        section = f"[{path}]" if path else "the top level"
        for key in table:
            if key not in known:
                raise self.error(_join(path, key), f"unknown key '{key}' in {section}")
        values: dict[str, Any] = {}
        for key, f in known.items():
            key_path = _join(path, key)
            if key not in table:
                if f.metadata.get("required"):
                    raise self.error(path, f"missing required key '{key}' in {section}")
                continue
            values[f.name] = self.convert(hints[f.name], table[key], key_path)
        return cls(**values)

    def convert(self, hint: Any, value: Any, path: str) -> Any:
        origin = typing.get_origin(hint)
        if is_dataclass(hint):
            if not isinstance(value, dict):
                raise self.error(path, f"'{path}' must be a table")
            return self.build(typing.cast(type[Any], hint), value, path)
        if origin is tuple:
            (item,) = typing.get_args(hint)[:1]
            if not isinstance(value, list):
                raise self.error(path, f"'{path}' must be a list, got {_show(value)}")
            if is_dataclass(item):
                return tuple(self.convert(item, v, f"{path}[{i}]") for i, v in enumerate(value))
            return tuple(self.convert(item, v, path) for v in value)
        if origin in (typing.Union, types.UnionType):
            raise TypeError(f"unsupported setting type {hint}")
        return self.scalar(hint, value, path)

    def scalar(self, hint: Any, value: Any, path: str) -> Any:
        names = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}
        ok = isinstance(value, hint) and not (hint is int and isinstance(value, bool))
        if hint is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if not ok:
            raise self.error(path, f"'{path}' must be {names[hint]}, got {_show(value)}")
        return value


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def find_config(path: str | None, environ: Mapping[str, str]) -> Path:
    """The config file to use: ``--config``, then ``$AGGREGATOR_CONFIG``, then ./config.toml."""
    chosen = path or environ.get(CONFIG_ENV) or DEFAULT_CONFIG
    return Path(chosen).expanduser()


def load(path: Path, environ: Mapping[str, str] | None = None) -> Settings:
    """Read, validate and resolve the configuration at ``path``."""
    environ = os.environ if environ is None else environ
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"config file {path} not found (use --config PATH or set {CONFIG_ENV})"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    return loads(text, source=str(path), base_dir=path.resolve().parent, environ=environ)


def loads(
    text: str, *, source: str, base_dir: Path, environ: Mapping[str, str] | None = None
) -> Settings:
    """Like :func:`load`, for text already in memory (tests, reload checks)."""
    environ = os.environ if environ is None else environ
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: invalid TOML: {exc}") from None
    loader = _Loader(source, text)
    settings: Settings = loader.build(Settings, _apply_environ(table, environ), "")
    settings = _resolve(settings, base_dir, environ)
    validate(settings, loader)
    return replace(settings, config_path=source)


_FieldTable = tuple[dict[str, Any], dict[str, Field[Any]]]
_FIELD_TABLES: dict[type[Any], _FieldTable] = {}


def _field_table(cls: type[Any]) -> _FieldTable:
    """A settings class's type hints and its user-facing fields by config key, read once
    per class (a config with hundreds of ``[[feeds]]`` builds the same class each time)."""
    table = _FIELD_TABLES.get(cls)
    if table is None:
        known = {f.metadata.get("key", f.name): f for f in fields(cls)}
        public = {k: f for k, f in known.items() if not f.metadata.get("internal")}
        table = _FIELD_TABLES[cls] = (typing.get_type_hints(cls), public)
    return table


def _apply_environ(table: dict[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """``AGGREGATOR_<SECTION>_<KEY>`` overrides scalar keys of the plain sections."""
    table = {k: dict(v) if isinstance(v, dict) else v for k, v in table.items()}
    for section, cls in _SECTION_TYPES.items():
        hints = typing.get_type_hints(cls)
        for f in fields(cls):
            key = f.metadata.get("key", f.name)
            name = f"AGGREGATOR_{section}_{key}".upper()
            if name not in environ or f.metadata.get("internal") or is_dataclass(hints[f.name]):
                continue
            table.setdefault(section, {})[key] = _parse_env(hints[f.name], environ[name], name)
    return table


def _parse_env(hint: Any, raw: str, name: str) -> Any:
    try:
        if hint is bool:
            if raw.lower() not in {"1", "0", "true", "false", "yes", "no"}:
                raise ValueError(raw)
            return raw.lower() in {"1", "true", "yes"}
        if hint is int:
            return int(raw)
        if hint is float:
            return float(raw)
    except ValueError:
        raise ConfigError(f"environment variable {name} has an invalid value {raw!r}") from None
    return raw


_SECTION_TYPES: dict[str, type[Any]] = {
    "storage": StorageSettings,
    "fetch": FetchSettings,
    "parse": ParseSettings,
    "cluster": ClusterSettings,
    "publish": PublishSettings,
    "server": ServerSettings,
    "mail": MailSettings,
    "schedule": ScheduleSettings,
}


def _resolve(settings: Settings, base: Path, environ: Mapping[str, str]) -> Settings:
    """Make relative paths absolute against the config file's folder; read secrets."""
    smtp = settings.mail.smtp
    mail = replace(
        settings.mail,
        maildir=str(_resolve_path(settings.mail.maildir, base)),
        unsubscribe_maildir=(
            str(_resolve_path(settings.mail.unsubscribe_maildir, base))
            if settings.mail.unsubscribe_maildir
            else ""
        ),
        dkim_key_file=(
            str(_resolve_path(settings.mail.dkim_key_file, base))
            if settings.mail.dkim_key_file
            else ""
        ),
        smtp=replace(smtp, password=environ.get(smtp.password_env, "")),
    )
    return replace(
        settings,
        storage=replace(settings.storage, url=resolve_database_url(settings.storage.url, base)),
        publish=replace(
            settings.publish, output_dir=str(_resolve_path(settings.publish.output_dir, base))
        ),
        mail=mail,
        feeds=tuple(replace(f, url=resolve_feed_url(f.url, base)) for f in settings.feeds),
        digests=tuple(
            replace(d, feeds=tuple(resolve_feed_url(url, base) for url in d.feeds))
            for d in settings.digests
        ),
    )


def _resolve_path(value: str, base: Path) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path


def resolve_database_url(url: str, base: Path) -> str:
    """Resolve the path of a relative ``sqlite:///`` URL against ``base``."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and url != "sqlite:///:memory:":
        path = url[len(prefix) :]
        if path and not path.startswith("/"):
            return prefix + str(base / path)
    return url


def resolve_feed_url(url: str, base: Path) -> str:
    """URLs stay as they are (``validate`` judges the scheme); paths become ``file://`` URLs."""
    scheme = urlsplit(url).scheme
    if len(scheme) > 1:  # a one-letter "scheme" is a Windows drive
        return url
    return _resolve_path(url, base).resolve().as_uri()


# A DNS name as a frame's address may name it: letters, digits and hyphens, dot-separated.
_HOST_NAME = re.compile(
    r"(?i)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+"
)


def validate(settings: Settings, loader: _Loader | None = None) -> None:
    """Checks that span keys; raises :class:`ConfigError` naming the key."""

    def fail(path: str, problem: str) -> ConfigError:
        return loader.error(path, problem) if loader else ConfigError(problem)

    if settings.mail.transport not in {"maildir", "smtp", "stdout"}:
        raise fail("mail.transport", 'mail.transport must be "maildir", "smtp" or "stdout"')
    if settings.mail.smtp.max_per_second < 0:
        raise fail("mail.smtp.max_per_second", "mail.smtp.max_per_second must be 0 or more")
    if settings.mail.smtp.connections < 1:
        raise fail("mail.smtp.connections", "mail.smtp.connections must be at least 1")
    dkim = (settings.mail.dkim_key_file, settings.mail.dkim_domain, settings.mail.dkim_selector)
    if any(dkim) and not all(dkim):
        raise fail(
            "mail.dkim_key_file",
            "DKIM needs all of mail.dkim_key_file, mail.dkim_domain and mail.dkim_selector",
        )
    if not 0 < settings.server.port < 65536:
        raise fail("server.port", "server.port must be between 1 and 65535")
    for key, value in (
        ("server.subscribe_per_client_hour", settings.server.subscribe_per_client_hour),
        ("mail.confirmations_per_address_day", settings.mail.confirmations_per_address_day),
        ("mail.confirmations_per_hour", settings.mail.confirmations_per_hour),
    ):
        if value < 0:
            raise fail(key, f"{key} must be 0 (no limit) or more")
    for i, proxy in enumerate(settings.server.trusted_proxies):
        try:
            ipaddress.ip_network(proxy)
        except ValueError:
            raise fail(
                "server.trusted_proxies",
                f"server.trusted_proxies[{i}] {proxy!r} is not an IP address or network",
            ) from None
    for name in (
        "concurrency",
        "per_host",
        "interval_minutes",
        "min_interval_minutes",
        "max_body_bytes",
        "redirect_confirmations",
    ):
        if getattr(settings.fetch, name) < 1:
            raise fail(f"fetch.{name}", f"fetch.{name} must be at least 1")
    if settings.schedule.tick_seconds < 1:
        raise fail("schedule.tick_seconds", "schedule.tick_seconds must be at least 1")
    for name in ("digest_grace_hours", "catch_up_minutes"):
        if getattr(settings.schedule, name) < 0:
            raise fail(f"schedule.{name}", f"schedule.{name} must be 0 or more")
    if settings.publish.cache_mb < 1:
        raise fail("publish.cache_mb", "publish.cache_mb must be at least 1")
    for name in ("retention_days", "tombstone_days"):
        if getattr(settings.storage, name) < 0:
            raise fail(f"storage.{name}", f"storage.{name} must be 0 or more")
    if settings.fetch.timeout <= 0:
        raise fail("fetch.timeout", "fetch.timeout must be positive")
    if settings.parse.timeout <= 0 or settings.parse.memory_mb < 128:
        raise fail("parse", "parse.timeout must be positive and parse.memory_mb at least 128")
    if not 0 <= settings.parse.workers <= 64:
        raise fail("parse.workers", "parse.workers must be between 0 (one per core) and 64")
    for i, host in enumerate(settings.parse.iframe_hosts):
        if not _HOST_NAME.fullmatch(host):
            raise fail(
                "parse.iframe_hosts",
                f"parse.iframe_hosts[{i}] {host!r} is not a host name (no scheme, no path)",
            )
    for i, feed in enumerate(settings.feeds):
        if feed.identity not in IDENTITY_POLICIES:
            choices = ", ".join(IDENTITY_POLICIES)
            raise fail(f"feeds[{i}].identity", f"feeds[{i}].identity must be one of {choices}")
        scheme = urlsplit(feed.url).scheme
        if scheme not in {"http", "https", "file"}:
            raise fail(
                f"feeds[{i}].url", f"feeds[{i}].url {feed.url!r} is not http, https or a path"
            )
    for i, hub in enumerate(settings.publish.websub_hubs):
        parts = urlsplit(hub)
        # The URL also goes into an HTTP Link header: nothing that could end or split it.
        unsafe = any(c.isspace() or c in '<>"' for c in hub)
        if parts.scheme not in {"http", "https"} or not parts.hostname or unsafe:
            raise fail(
                f"publish.websub_hubs[{i}]",
                f"publish.websub_hubs[{i}] {hub!r} is not an http or https URL",
            )
    locales = ", ".join(LOCALES)
    if settings.publish.locale not in LOCALES:
        raise fail("publish.locale", f"publish.locale must be one of {locales}")
    seen: set[str] = set()
    for i, digest in enumerate(settings.digests):
        if digest.locale not in LOCALES:
            raise fail(f"digests[{i}].locale", f"digests[{i}].locale must be one of {locales}")
        if digest.max_stories < 1 or digest.max_per_feed < 0:
            raise fail(
                f"digests[{i}].max_stories",
                "max_stories must be at least 1 and max_per_feed at least 0",
            )
        if digest.name in seen:
            raise fail(f"digests[{i}].name", f"digest name {digest.name!r} is used twice")
        seen.add(digest.name)
        try:
            ZoneInfo(digest.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise fail(f"digests[{i}].timezone", f"unknown time zone {digest.timezone!r}") from None
        from aggregator.digest.schedule import check_cron  # local: that module imports this one

        problem = check_cron(digest.schedule, digest.timezone)
        if problem:
            raise fail(f"digests[{i}].schedule", f"invalid cron {digest.schedule!r}: {problem}")


def iter_settings(cls: type[Any] = Settings, prefix: str = "") -> list[tuple[str, Any, str]]:
    """(dotted key, default, help) for every user-facing setting; used by docs and tests."""
    rows: list[tuple[str, Any, str]] = []
    hints = typing.get_type_hints(cls)
    for f in fields(cls):
        if f.metadata.get("internal"):
            continue
        key = _join(prefix, f.metadata.get("key", f.name))
        hint = hints[f.name]
        item = typing.get_args(hint)[0] if typing.get_origin(hint) is tuple else None
        nested = hint if is_dataclass(hint) else item if is_dataclass(item) else None
        if nested is not None:
            rows.extend(iter_settings(typing.cast(type[Any], nested), key))
            continue
        default = f.default if f.default is not MISSING else None
        rows.append((key, default, f.metadata.get("help", "")))
    return rows
