"""Minimal, checked edits of a trust policy document (pure).

An edit names one statement and one issuer and changes only that: the ``aud`` pin, the ``sub`` pin, or
the move to a cluster's new issuer. Every other statement, condition, Sid and key spelling is kept as it
was. ``check`` then proves the result is still a trust policy, no wider than before, and within IAM's
size limit; a rewrite that fails it is refused (and alerted) rather than sent.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from eksguard.snapshot.irsa import (
    STS_AUDIENCE,
    Condition,
    Statement,
    TrustPolicyError,
    like_match,
    parse_trust,
    provider_issuer,
)

# IAM's default quota for a role trust policy, counted without white space ("ACLSizePerRole"). It can
# be raised per account; a rewrite above the default is refused rather than risked.
TRUST_POLICY_LIMIT = 2048


@dataclass(frozen=True)
class Edit:
    statement: int
    kind: str  # "pin-aud" | "pin-sub" | "move-issuer"
    issuer: str
    subs: tuple[str, ...] = ()
    new_issuer: str | None = None
    new_provider: str | None = None


def policy_size(document: Mapping[str, Any]) -> int:
    return len(json.dumps(document, separators=(",", ":"), ensure_ascii=False))


def apply_edits(document: Mapping[str, Any], edits: Iterable[Edit]) -> dict[str, Any]:
    out = copy.deepcopy(dict(document))
    single = isinstance(out.get("Statement"), Mapping)
    statements = [out["Statement"]] if single else out["Statement"]
    ordered = sorted(edits, key=lambda e: e.kind == "move-issuer")  # pins use the old keys, then keys move
    for edit in ordered:
        stmt = statements[edit.statement]
        if edit.kind == "pin-aud":
            _pin_aud(stmt, edit.issuer)
        elif edit.kind == "pin-sub":
            _pin_sub(stmt, edit.issuer, edit.subs)
        elif edit.kind == "move-issuer" and edit.new_issuer and edit.new_provider:
            _move(stmt, edit.issuer, edit.new_issuer, edit.new_provider)
        else:
            raise ValueError(f"unknown or incomplete edit {edit!r}")
    out["Statement"] = statements[0] if single else statements
    return out


def _is_claim(operator: str, key: str, issuer: str, claim: str) -> bool:
    cond = Condition(operator, key, ())
    return cond.positive and cond.issuer_key == issuer.lower() and cond.claim == claim


def _values(raw: Any) -> list[Any]:
    return raw if isinstance(raw, list) else [raw]


def _pin_aud(stmt: dict[str, Any], issuer: str) -> None:
    conditions: dict[str, Any] = stmt.setdefault("Condition", {})
    kept = False
    for operator, block in list(conditions.items()):
        for key in [k for k in block if _is_claim(operator, k, issuer, "aud")]:
            if not kept and operator == "StringEquals":
                block[key], kept = STS_AUDIENCE, True  # keep the key as it was spelt, fix the value
            else:
                del block[key]
    if not kept:
        conditions.setdefault("StringEquals", {})[f"{issuer}:aud"] = STS_AUDIENCE
    _drop_empty(stmt)


def _pin_sub(stmt: dict[str, Any], issuer: str, subs: tuple[str, ...]) -> None:
    if not subs:
        raise ValueError("pin-sub needs the exact service account")
    conditions: dict[str, Any] = stmt.setdefault("Condition", {})
    pinned = False
    for operator, block in list(conditions.items()):
        for key in [k for k in block if _is_claim(operator, k, issuer, "sub")]:
            exact = [v for v in _values(block[key]) if "*" not in str(v) and "?" not in str(v)]
            if not exact:
                del block[key]
                continue
            if len(exact) != len(_values(block[key])):
                block[key] = exact[0] if len(exact) == 1 else exact  # only the wildcards go
            pinned = True
    if not pinned:
        conditions.setdefault("StringEquals", {})[f"{issuer}:sub"] = subs[0] if len(subs) == 1 else list(subs)
    _drop_empty(stmt)


def _move(stmt: dict[str, Any], old: str, new_issuer: str, new_provider: str) -> None:
    principal = stmt.get("Principal")
    if isinstance(principal, dict) and "Federated" in principal:
        raw = principal["Federated"]
        moved = [new_provider if _names(v, old) else v for v in _values(raw)]
        moved = list(dict.fromkeys(moved))
        principal["Federated"] = moved[0] if isinstance(raw, str) or len(moved) == 1 else moved
    for operator, block in list((stmt.get("Condition") or {}).items()):
        renamed = {}
        for key, value in block.items():
            prefix, _, claim = key.rpartition(":")
            renamed[f"{new_issuer}:{claim}" if prefix.lower() == old.lower() else key] = value
        stmt["Condition"][operator] = renamed


def _names(arn: Any, issuer: str) -> bool:
    found = provider_issuer(arn) if isinstance(arn, str) else None
    return found is not None and found.lower() == issuer.lower()


def _drop_empty(stmt: dict[str, Any]) -> None:
    conditions = stmt.get("Condition")
    if isinstance(conditions, dict):
        for operator in [op for op, block in conditions.items() if block == {}]:
            del conditions[operator]
        if not conditions:
            del stmt["Condition"]


def check(before: Mapping[str, Any], after: Mapping[str, Any], edits: Iterable[Edit],
          limit: int = TRUST_POLICY_LIMIT) -> str | None:
    """Why ``after`` must not be sent, or None. Pure; the last line of defence before UpdateAssumeRolePolicy."""
    edits = tuple(edits)
    try:
        old, new = parse_trust(before), parse_trust(after)
    except TrustPolicyError as exc:
        return f"the rewritten document is not a valid trust policy: {exc}"
    if (size := policy_size(after)) > limit:
        return f"the rewritten trust policy would be {size} characters, over IAM's {limit}-character limit"
    if len(old.statements) != len(new.statements):
        return "the rewrite changed the number of statements"
    if before.get("Version") != after.get("Version"):
        return "the rewrite changed the policy Version"
    for a, b in zip(old.statements, new.statements, strict=True):
        mine = [e for e in edits if e.statement == a.index]
        if (a.sid, a.effect, a.actions) != (b.sid, b.effect, b.actions):
            return f"{a.ref}: Sid, Effect or Action changed"
        if not mine and a != b:
            return f"{a.ref}: a statement no finding named was changed"
        if problem := _statement_problem(a, b, mine):
            return f"{a.ref}: {problem}"
    return None


def _statement_problem(a: Statement, b: Statement, edits: list[Edit]) -> str | None:
    # Old issuer (lower case) -> the issuer it moves to: conditions are compared as if already moved.
    moves = {e.issuer.lower(): (e.new_issuer or "").lower() for e in edits if e.kind == "move-issuer"}
    expected = tuple((k, next((e.new_provider or v for e in edits if e.kind == "move-issuer" and _names(v, e.issuer)),
                              v) if k == "Federated" else v) for k, v in a.principals)
    if tuple(dict.fromkeys(expected)) != b.principals:
        return "principals changed beyond the issuer move"

    def norm(c: Condition) -> tuple[str, str]:
        return moves.get(c.issuer_key, c.issuer_key), c.claim

    pinned = {(moves.get(e.issuer.lower(), e.issuer.lower()), "aud" if e.kind == "pin-aud" else "sub")
              for e in edits if e.kind != "move-issuer"}

    def rest(conds: tuple[Condition, ...]) -> list[tuple[str, str, tuple[str, ...]]]:
        return sorted((c.operator, ":".join(norm(c)), c.values) for c in conds
                      if not (c.positive and norm(c) in pinned))

    if rest(a.conditions) != rest(b.conditions):
        return "a condition no finding named was changed"
    for issuer, claim in pinned:
        after = [c for c in b.conditions if c.positive and norm(c) == (issuer, claim)]
        if claim == "aud" and sorted({v for c in after for v in c.values}) != [STS_AUDIENCE]:
            return "aud is not pinned to sts.amazonaws.com after the rewrite"
        if claim == "sub":
            before = [v for c in a.conditions if c.positive and norm(c) == (issuer, "sub") for v in c.values]
            if problem := _sub_narrowed(before, after):
                return problem
    return None


def _sub_narrowed(before_patterns: list[str], after: list[Condition]) -> str | None:
    if not after or any(c.like and c.wildcard_values for c in after):
        return "sub is not exact after the rewrite"
    for value in (v for c in after for v in c.values):
        if before_patterns and not any(like_match(p, value) for p in before_patterns):
            return f"sub {value} was not allowed before: the rewrite would widen the trust"
    return None
