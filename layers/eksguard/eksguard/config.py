"""Typed configuration, read once from the environment the template gives each function."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

MAX_TOPOLOGY_CACHE_SECONDS = 3600


class ConfigError(ValueError):
    """A parameter value the template should have rejected; fail loudly rather than guess."""


class Mode(StrEnum):
    AUDIT = "audit"
    ENFORCE = "enforce"


class Scope(StrEnum):
    EKS = "eks"
    ALL = "all"


@dataclass(frozen=True)
class Config:
    mode: Mode = Mode.AUDIT
    scope: Scope = Scope.EKS
    protected_ports: frozenset[int] = frozenset({22, 3389, 10250, 53})
    public_ports: frozenset[int] = frozenset({80, 443})
    max_public_prefix: int = 16
    revoke_wide_public_cidrs: bool = True
    exempt_tag_key: str = "eksguard:exempt"
    audit_table: str = ""
    alert_topic_arn: str = ""
    # IAM path of every role eksguard owns: calls made by these roles are its own (loop guard).
    own_role_path: str = "/eksguard/"
    # How long a warm guard keeps a region's cluster topology (TopologyCacheSeconds; 0: read it on every event).
    topology_cache_seconds: int = 0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Config:
        env = os.environ if env is None else env
        default = cls()
        return cls(
            mode=_enum(Mode, env.get("EKSGUARD_MODE", default.mode)),
            scope=_enum(Scope, env.get("EKSGUARD_SCOPE", default.scope)),
            protected_ports=_ports(env, "EKSGUARD_PROTECTED_PORTS", default.protected_ports),
            public_ports=_ports(env, "EKSGUARD_PUBLIC_PORTS", default.public_ports),
            max_public_prefix=_prefix(env.get("EKSGUARD_MAX_PUBLIC_PREFIX", str(default.max_public_prefix))),
            revoke_wide_public_cidrs=_bool(env, "EKSGUARD_REVOKE_WIDE_PUBLIC_CIDRS", True),
            exempt_tag_key=env.get("EKSGUARD_EXEMPT_TAG_KEY", default.exempt_tag_key) or default.exempt_tag_key,
            audit_table=env.get("EKSGUARD_AUDIT_TABLE", ""),
            alert_topic_arn=env.get("EKSGUARD_ALERT_TOPIC_ARN", ""),
            own_role_path=_role_path(env.get("EKSGUARD_OWN_ROLE_PATH", default.own_role_path)),
            topology_cache_seconds=_seconds(env, "EKSGUARD_TOPOLOGY_CACHE_SECONDS", MAX_TOPOLOGY_CACHE_SECONDS),
        )


def _enum[E: StrEnum](kind: type[E], raw: str) -> E:
    try:
        return kind(raw.strip().lower())
    except ValueError:
        allowed = ", ".join(m.value for m in kind)
        raise ConfigError(f"{kind.__name__} must be one of {allowed}, got {raw!r}") from None


def _ports(env: Mapping[str, str], key: str, default: frozenset[int]) -> frozenset[int]:
    raw = env.get(key)
    if raw is None:
        return default
    ports: set[int] = set()
    for item in raw.split(","):
        item = item.strip()
        if not item:
            continue
        if not (item.isascii() and item.isdigit()) or not 0 <= int(item) <= 65535:
            raise ConfigError(f"{key}: {item!r} is not a port number (0-65535)")
        ports.add(int(item))
    return frozenset(ports)


def _prefix(raw: str) -> int:
    raw = raw.strip()
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= 32:
        raise ConfigError(f"MaxPublicPrefix must be an integer from 1 to 32, got {raw!r}")
    return int(raw)


def _role_path(raw: str) -> str:
    # Without both slashes "/eksguard" would also match a role named "eksguard-foo" at the root.
    if not (raw.startswith("/") and raw.endswith("/") and len(raw) > 2):
        raise ConfigError(f"EKSGUARD_OWN_ROLE_PATH must look like /eksguard/, got {raw!r}")
    return raw


def _seconds(env: Mapping[str, str], key: str, maximum: int) -> int:
    raw = env.get(key, "0").strip()
    if not (raw.isascii() and raw.isdigit()) or int(raw) > maximum:
        raise ConfigError(f"{key} must be a whole number of seconds from 0 to {maximum}, got {raw!r}")
    return int(raw)


def _bool(env: Mapping[str, str], key: str, default: bool) -> bool:
    raw = env.get(key)
    if raw is None:
        return default
    if raw.strip().lower() in {"true", "1", "yes"}:
        return True
    if raw.strip().lower() in {"false", "0", "no"}:
        return False
    raise ConfigError(f"{key} must be true or false, got {raw!r}")
