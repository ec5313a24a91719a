"""Config.from_env: the defaults the template documents, parsing, and loud failures on bad values."""

from __future__ import annotations

import pytest

from eksguard.config import Config, ConfigError, Mode, Scope


def test_defaults_from_an_empty_environment() -> None:
    cfg = Config.from_env({})
    assert cfg == Config()
    assert (cfg.mode, cfg.scope) == (Mode.AUDIT, Scope.EKS)
    assert cfg.protected_ports == {22, 3389, 10250, 53}
    assert cfg.public_ports == {80, 443}
    assert (cfg.max_public_prefix, cfg.revoke_wide_public_cidrs) == (16, True)
    assert (cfg.exempt_tag_key, cfg.own_role_path) == ("eksguard:exempt", "/eksguard/")
    assert (cfg.audit_table, cfg.alert_topic_arn) == ("", "")


def test_reads_os_environ_when_no_mapping_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EKSGUARD_MODE", "enforce")
    monkeypatch.setenv("EKSGUARD_AUDIT_TABLE", "audit-table")
    cfg = Config.from_env()
    assert (cfg.mode, cfg.audit_table) == (Mode.ENFORCE, "audit-table")


PARSED = [
    ("mode-enforce", {"EKSGUARD_MODE": "enforce"}, "mode", Mode.ENFORCE),
    ("mode-case-and-space", {"EKSGUARD_MODE": " Enforce "}, "mode", Mode.ENFORCE),
    ("scope-all", {"EKSGUARD_SCOPE": "ALL"}, "scope", Scope.ALL),
    ("protected-ports", {"EKSGUARD_PROTECTED_PORTS": "22,3389"}, "protected_ports", frozenset({22, 3389})),
    ("ports-with-spaces-and-gaps", {"EKSGUARD_PROTECTED_PORTS": " 22 , ,8443,"}, "protected_ports",
     frozenset({22, 8443})),
    ("port-bounds", {"EKSGUARD_PUBLIC_PORTS": "0,65535"}, "public_ports", frozenset({0, 65535})),
    ("public-ports", {"EKSGUARD_PUBLIC_PORTS": "443"}, "public_ports", frozenset({443})),
    ("max-prefix", {"EKSGUARD_MAX_PUBLIC_PREFIX": "24"}, "max_public_prefix", 24),
    ("max-prefix-bounds-low", {"EKSGUARD_MAX_PUBLIC_PREFIX": "1"}, "max_public_prefix", 1),
    ("max-prefix-bounds-high", {"EKSGUARD_MAX_PUBLIC_PREFIX": " 32 "}, "max_public_prefix", 32),
    ("revoke-wide-false", {"EKSGUARD_REVOKE_WIDE_PUBLIC_CIDRS": "false"}, "revoke_wide_public_cidrs", False),
    ("revoke-wide-no", {"EKSGUARD_REVOKE_WIDE_PUBLIC_CIDRS": "No"}, "revoke_wide_public_cidrs", False),
    ("revoke-wide-zero", {"EKSGUARD_REVOKE_WIDE_PUBLIC_CIDRS": "0"}, "revoke_wide_public_cidrs", False),
    ("revoke-wide-true", {"EKSGUARD_REVOKE_WIDE_PUBLIC_CIDRS": "TRUE"}, "revoke_wide_public_cidrs", True),
    ("revoke-wide-yes", {"EKSGUARD_REVOKE_WIDE_PUBLIC_CIDRS": "yes"}, "revoke_wide_public_cidrs", True),
    ("exempt-tag-key", {"EKSGUARD_EXEMPT_TAG_KEY": "acme:skip"}, "exempt_tag_key", "acme:skip"),
    ("exempt-tag-key-empty-is-default", {"EKSGUARD_EXEMPT_TAG_KEY": ""}, "exempt_tag_key", "eksguard:exempt"),
    ("audit-table", {"EKSGUARD_AUDIT_TABLE": "t"}, "audit_table", "t"),
    ("alert-topic", {"EKSGUARD_ALERT_TOPIC_ARN": "arn:aws:sns:eu-west-1:1:t"}, "alert_topic_arn",
     "arn:aws:sns:eu-west-1:1:t"),
    ("own-role-path", {"EKSGUARD_OWN_ROLE_PATH": "/platform/eksguard/"}, "own_role_path",
     "/platform/eksguard/"),
]


@pytest.mark.parametrize(("env", "attr", "expected"), [p[1:] for p in PARSED], ids=[p[0] for p in PARSED])
def test_parses(env: dict[str, str], attr: str, expected: object) -> None:
    cfg = Config.from_env(env)
    assert getattr(cfg, attr) == expected
    # Everything not set keeps its default.
    rest = {k: v for k, v in vars(cfg).items() if k != attr}
    assert rest == {k: v for k, v in vars(Config()).items() if k != attr}


PORTS_MSG = "is not a port number (0-65535)"
BAD = [
    ("mode-unknown", {"EKSGUARD_MODE": "remediate"}, "Mode must be one of audit, enforce, got 'remediate'"),
    ("mode-empty", {"EKSGUARD_MODE": ""}, "Mode must be one of audit, enforce"),
    ("scope-unknown", {"EKSGUARD_SCOPE": "account"}, "Scope must be one of eks, all, got 'account'"),
    ("port-range", {"EKSGUARD_PROTECTED_PORTS": "22-25"}, f"EKSGUARD_PROTECTED_PORTS: '22-25' {PORTS_MSG}"),
    ("port-negative", {"EKSGUARD_PROTECTED_PORTS": "-1"}, f"EKSGUARD_PROTECTED_PORTS: '-1' {PORTS_MSG}"),
    ("port-too-big", {"EKSGUARD_PUBLIC_PORTS": "80,65536"}, f"EKSGUARD_PUBLIC_PORTS: '65536' {PORTS_MSG}"),
    ("port-name", {"EKSGUARD_PUBLIC_PORTS": "https"}, f"EKSGUARD_PUBLIC_PORTS: 'https' {PORTS_MSG}"),
    ("port-semicolons", {"EKSGUARD_PUBLIC_PORTS": "80;443"}, "'80;443' is not a port number"),
    ("port-unicode-digit", {"EKSGUARD_PROTECTED_PORTS": "22,\u00b2"}, "EKSGUARD_PROTECTED_PORTS"),
    ("prefix-zero", {"EKSGUARD_MAX_PUBLIC_PREFIX": "0"},
     "MaxPublicPrefix must be an integer from 1 to 32, got '0'"),
    ("prefix-33", {"EKSGUARD_MAX_PUBLIC_PREFIX": "33"}, "from 1 to 32, got '33'"),
    ("prefix-slash", {"EKSGUARD_MAX_PUBLIC_PREFIX": "/16"}, "got '/16'"),
    ("prefix-empty", {"EKSGUARD_MAX_PUBLIC_PREFIX": ""}, "MaxPublicPrefix"),
    ("prefix-negative", {"EKSGUARD_MAX_PUBLIC_PREFIX": "-8"}, "got '-8'"),
    ("prefix-unicode-digit", {"EKSGUARD_MAX_PUBLIC_PREFIX": "\u00b2"}, "MaxPublicPrefix"),
    ("bool-unknown", {"EKSGUARD_REVOKE_WIDE_PUBLIC_CIDRS": "maybe"},
     "EKSGUARD_REVOKE_WIDE_PUBLIC_CIDRS must be true or false, got 'maybe'"),
    ("bool-empty", {"EKSGUARD_REVOKE_WIDE_PUBLIC_CIDRS": ""}, "must be true or false"),
]


@pytest.mark.parametrize(("env", "message"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_values_raise_config_error(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as exc:
        Config.from_env(env)
    assert message in str(exc.value)


def test_config_error_is_a_value_error() -> None:
    assert issubclass(ConfigError, ValueError)
