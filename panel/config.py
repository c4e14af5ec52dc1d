"""Settings: one YAML file plus GOVHOST_* environment overrides, validated once at start-up.

Every key of every section has a default (config.example.yaml shows them all), so a config.yaml
written before a section or key existed still loads: the new key starts at its default. Only the
secrets (secret_key, secret_keys) and the database URL have no safe default and must be given. An
unknown or ill-typed key stops start-up with a message naming it, so a typo in a production config
never silently falls back to a default.

The core's sections are the fields of `Settings`. Each capability brings its own section (a frozen
dataclass in its `settings.py`, named in its manifest); the capability loader registers it here with
`section_register`, and `Settings.load` builds a `Settings` subclass that has those sections as
fields too (`settings.mail.archive_days`, `dataclasses.replace(settings, mail=...)`).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import yaml


class ConfigError(Exception):
    """The configuration cannot be used; the message names the offending key."""


# field(metadata=PATH) marks a key whose value is a path: a relative one is taken from the config
# file's folder, so the example config works as-is from wherever the panel is started.
PATH = MappingProxyType({"path": True})


@dataclass(frozen=True)
class DatabaseSettings:
    url: str


@dataclass(frozen=True)
class QueueSettings:
    backend: str = "sqlite"  # "sqlite" or "redis"
    sqlite_path: str = "var/queue.db"
    redis_url: str = "redis://127.0.0.1:6379/0"
    workers: int = 2
    sweep_s: int = 5  # a job still pending this long after it was queued is queued again
    lease_s: int = 20  # a running job whose worker sent no heartbeat for this long is reaped
    drain_s: int = 60  # on SIGTERM, how long a running job may go on before it is handed back


@dataclass(frozen=True)
class WebSettings:
    session_minutes: int = 60
    secure_cookies: bool = False
    default_locale: str = "km"
    page_size: int = 50


@dataclass(frozen=True)
class AuthSettings:
    max_failures_per_account: int = 5
    max_failures_per_address: int = 20
    failure_window_minutes: int = 15
    lockout_minutes: int = 15
    staff_require_2fa: bool = True
    token_max_days: int = 365


@dataclass(frozen=True)
class SmtpSettings:
    host: str = ""  # empty: notifications stay in the panel
    port: int = 25
    sender: str = "govhost@localhost"
    starttls: bool = False
    username: str = ""
    password: str = ""


@dataclass(frozen=True)
class AnsibleSettings:
    timeout_s: int = 900
    forks: int = 10
    ssh_key: str = "/etc/govhost/ssh/id_ed25519"
    control_dir: str = ""  # shared ssh ControlPath sockets; empty: <data_dir>/ssh-cp
    # PEM file of the data center's CA that validates WinRM hosts' HTTPS certificates (docs/windows.md);
    # empty: no host may use WinRM.
    winrm_ca_bundle: str = ""


@dataclass(frozen=True)
class NetworkSettings:
    """Outgoing connections to managed hosts (SSH, probes, DNS updates) in `source_network` leave
    from `source_address`, never the default route (e.g. a management VLAN; the test lab's bridge)."""

    source_network: str = ""  # CIDR; empty: the system picks the source address
    source_address: str = ""


@dataclass(frozen=True)
class LogSettings:
    format: str = "text"  # "text" or "json" (one object a line): web, worker and CLI processes


@dataclass(frozen=True)
class LabSettings:
    dir: str = "/var/cache/govhost/lab"
    demo_host: str = ""
    demo_address: str = "10.77.0.10"


@dataclass(frozen=True)
class Settings:
    secret_key: str
    secret_keys: tuple[str, ...]
    database: DatabaseSettings
    data_dir: str = "var"
    queue: QueueSettings = field(default_factory=QueueSettings)
    web: WebSettings = field(default_factory=WebSettings)
    auth: AuthSettings = field(default_factory=AuthSettings)
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    ansible: AnsibleSettings = field(default_factory=AnsibleSettings)
    network: NetworkSettings = field(default_factory=NetworkSettings)
    log: LogSettings = field(default_factory=LogSettings)
    lab: LabSettings = field(default_factory=LabSettings)
    source: str = field(default="", compare=False)

    @classmethod
    def load(cls, path: str | os.PathLike | None = None, env: typing.Mapping[str, str] | None = None):
        """Read `path` (or $GOVHOST_CONFIG, or ./config.yaml) and apply GOVHOST_* overrides."""
        env = os.environ if env is None else env
        path = path or env.get("GOVHOST_CONFIG") or "config.yaml"
        p = Path(path)
        try:
            raw = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {p}") from None
        except yaml.YAMLError as e:
            raise ConfigError(f"config file {p} is not valid YAML: {e}") from None
        if not isinstance(raw, dict):
            raise ConfigError(f"config file {p} must hold a mapping of keys")
        _apply_env(raw, env)
        settings = _build(settings_class(), raw, "", base=p.resolve().parent)
        return dataclasses.replace(settings, source=str(p))

    @classmethod
    def from_dict(cls, raw: dict, base: Path | None = None) -> Settings:
        return _build(settings_class(), raw, "", base=base or Path.cwd())

    def path(self, *parts: str) -> Path:
        return Path(self.data_dir, *parts)


# The core's keys whose values are paths (a section's own are marked with field(metadata=PATH)).
_PATH_KEYS = {
    "data_dir",
    "queue.sqlite_path",
    "ansible.ssh_key",
    "ansible.control_dir",
    "ansible.winrm_ca_bundle",
    "lab.dir",
}


# ---- the capabilities' sections ------------------------------------------------------------------

_sections: dict[str, type] = {}
_classes: dict[tuple, type] = {}


def section_register(name: str, section: type) -> None:
    """Add a capability's settings section (a frozen dataclass whose every field has a default)."""
    if name in {f.name for f in dataclasses.fields(Settings)}:
        raise ConfigError(f"settings section {name}: the core already has a key of that name")
    missing = [f.name for f in dataclasses.fields(section) if _no_default(f)]
    if missing:
        raise ConfigError(f"settings section {name}: key {missing[0]} has no default")
    _sections[name] = section


def section_unregister(name: str) -> None:
    _sections.pop(name, None)


def sections() -> dict[str, type]:
    return dict(_sections)


def _no_default(f: dataclasses.Field) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


def settings_class() -> type[Settings]:
    """Settings with the registered sections as fields (one class per set of sections)."""
    key = tuple(_sections.items())
    if key not in _classes:
        extra = [(name, section, field(default_factory=section)) for name, section in key]
        cls = dataclasses.make_dataclass("Settings", extra, bases=(Settings,), frozen=True)
        cls.__module__ = __name__
        _classes[key] = cls
    return _classes[key]


# Variables of the tools around the panel (lab, test suite), not settings.
_NOT_SETTINGS = {"GOVHOST_CONFIG", "GOVHOST_LAB_DIR", "GOVHOST_LAB_RUN", "GOVHOST_LAB_NET", "GOVHOST_CACHE"}


def _apply_env(raw: dict, env: typing.Mapping[str, str]) -> None:
    """GOVHOST_SECTION__KEY=value overrides raw["section"]["key"]; values are parsed as YAML scalars."""
    for name, value in env.items():
        if not name.startswith("GOVHOST_") or name in _NOT_SETTINGS or name.startswith("GOVHOST_TEST_"):
            continue
        keys = name[len("GOVHOST_") :].lower().split("__")
        node = raw
        for k in keys[:-1]:
            node = node.setdefault(k, {})
            if not isinstance(node, dict):
                raise ConfigError(f"environment {name}: {k} is not a section")
        try:
            node[keys[-1]] = yaml.safe_load(value) if value != "" else ""
        except yaml.YAMLError:
            node[keys[-1]] = value


def _build(cls, raw: dict, prefix: str, base: Path):
    if not isinstance(raw, dict):
        raise ConfigError(f"config key {prefix.rstrip('.') or '(top)'}: expected a mapping")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name != "source"}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise ConfigError(f"unknown config key: {prefix}{unknown[0]}")
    values = {}
    for name, f in fields.items():
        key = prefix + name
        if name in raw:
            value = raw[name]
        elif dataclasses.is_dataclass(hints[name]):
            value = {}  # a section the file does not have yet: every key at its default
        elif f.default is not dataclasses.MISSING:
            value = f.default
        else:
            raise ConfigError(f"missing config key: {key}")
        if isinstance(value, tuple):
            value = list(value)
        values[name] = _coerce(hints[name], value, key, base)
        is_path = key in _PATH_KEYS or f.metadata.get("path")
        if is_path and values[name] and not Path(values[name]).is_absolute():
            values[name] = str((base / values[name]).resolve())
        if key == "database.url":
            values[name] = _sqlite_beside(values[name], base)
    return cls(**values)


def _sqlite_beside(url: str, base: Path) -> str:
    """A relative SQLite path is taken from the config file's folder, like every other path."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and url != prefix and ":memory:" not in url:
        return prefix + str((base / url[len(prefix) :]).resolve())
    return url


def _coerce(tp, value, key: str, base: Path):
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, key + ".", base)
    origin = typing.get_origin(tp)
    if origin is tuple:
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise ConfigError(f"config key {key}: expected a list of non-empty strings")
        return tuple(value)
    if isinstance(tp, types.UnionType):
        raise ConfigError(f"config key {key}: unsupported type")
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"config key {key}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"config key {key}: expected a whole number, got {value!r}")
        return value
    if tp is str:
        if value is None:
            value = ""
        if not isinstance(value, str):
            raise ConfigError(f"config key {key}: expected text, got {value!r}")
        return value
    raise ConfigError(f"config key {key}: unsupported type {tp}")


# The longest an API token may live, whatever the config says: the API schema states it.
TOKEN_DAYS_MAX = 365


def validate(settings: Settings) -> Settings:
    """Rules that span keys; called by the app factory and the CLI."""
    if settings.queue.backend not in ("sqlite", "redis"):
        raise ConfigError("config key queue.backend: must be 'sqlite' or 'redis'")
    q = settings.queue
    if not (1 <= q.sweep_s <= 3600 and 6 <= q.lease_s <= 3600 and 0 <= q.drain_s <= 3600):
        raise ConfigError("config keys queue.sweep_s (1-3600), queue.lease_s (6-3600), queue.drain_s (0-3600)")
    if not settings.secret_keys:
        raise ConfigError("config key secret_keys: at least one key is required")
    if len(settings.secret_key) < 16:
        raise ConfigError("config key secret_key: must be at least 16 characters")
    if settings.web.default_locale not in ("km", "en"):
        raise ConfigError("config key web.default_locale: must be 'km' or 'en'")
    _validate_network(settings.network)
    if settings.log.format not in ("text", "json"):
        raise ConfigError("config key log.format: must be 'text' or 'json'")
    if not 1 <= settings.auth.token_max_days <= TOKEN_DAYS_MAX:
        raise ConfigError(f"config key auth.token_max_days: must be 1 to {TOKEN_DAYS_MAX}")
    return settings


def _validate_network(net: NetworkSettings) -> None:
    if bool(net.source_network) != bool(net.source_address):
        raise ConfigError("config keys network.source_network and network.source_address go together")
    try:
        if net.source_network:
            ipaddress.ip_network(net.source_network)
            ipaddress.ip_address(net.source_address)
    except ValueError as e:
        raise ConfigError(f"config key network: {e}") from None
