"""An identity-policy evaluator for the permission check: does a role's policy allow one request
(action, resource ARN, condition context)?

What it implements, as IAM's policy evaluation logic documents it for a single account and no boundary,
SCP or resource policy: an explicit Deny wins; otherwise an Allow that matches wins; otherwise implicit
deny. Action, NotAction, Resource, NotResource; ``*`` and ``?`` wildcards (actions case-insensitively;
ARNs part by part, a wildcard in partition, service, region or account never spanning a colon); the
condition operators the template uses -- String(Not)Equals, String(Not)Like, Arn(Not)Equals/Like, Bool,
with ``...IfExists`` and ``ForAnyValue:``/``ForAllValues:`` -- where a key the request does not carry
makes the condition false (so an Allow does not apply and neither does a Deny), as in IAM. Any other
operator raises: the check must not guess.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any


@dataclass(frozen=True)
class Statement:
    effect: str
    actions: tuple[str, ...] = ()
    not_actions: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    not_resources: tuple[str, ...] = ()
    condition: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    sid: str = ""
    # Where the statement comes from: the template's inline policy, or what SAM adds (managed or generated).
    origin: str = ""

    @classmethod
    def parse(cls, raw: Mapping[str, Any], origin: str = "") -> Statement:
        unknown = set(raw) - {"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition"}
        if unknown:
            raise ValueError(f"{origin}: statement keys not supported here: {sorted(unknown)}")
        if raw.get("Effect") not in ("Allow", "Deny"):
            raise ValueError(f"{origin}: Effect must be Allow or Deny, got {raw.get('Effect')!r}")
        return cls(effect=raw["Effect"], actions=_strings(raw.get("Action")),
                   not_actions=_strings(raw.get("NotAction")),
                   resources=_strings(raw.get("Resource")), not_resources=_strings(raw.get("NotResource")),
                   condition=dict(raw.get("Condition") or {}), sid=str(raw.get("Sid", "")), origin=origin)

    def matches_action(self, action: str) -> bool:
        if self.not_actions:
            return not any(_action_match(p, action) for p in self.not_actions)
        return any(_action_match(p, action) for p in self.actions)

    def matches_resource(self, arn: str) -> bool:
        if self.not_resources:
            return not any(arn_match(p, arn) for p in self.not_resources)
        return any(arn_match(p, arn) for p in self.resources)

    def applies(self, request: Request) -> bool:
        return (self.matches_action(request.action) and self.matches_resource(request.resource)
                and conditions_hold(self.condition, request.context))


@dataclass(frozen=True)
class Request:
    action: str  # service:Action
    resource: str  # an ARN, or "*" for an action AWS authorizes on no resource type
    context: Mapping[str, str | Sequence[str]] = field(default_factory=dict)
    why: str = ""  # what made the function need it (the call, or the call it depends on)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    allowed_by: tuple[Statement, ...] = ()
    denied_by: tuple[Statement, ...] = ()


def evaluate(statements: Iterable[Statement], request: Request) -> Decision:
    matching = [s for s in statements if s.applies(request)]
    denies = tuple(s for s in matching if s.effect == "Deny")
    allows = tuple(s for s in matching if s.effect == "Allow")
    return Decision(allowed=bool(allows) and not denies, allowed_by=allows, denied_by=denies)


def _strings(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    return tuple(str(v) for v in value) if isinstance(value, list) else (str(value),)


@lru_cache(maxsize=4096)
def _wildcard(pattern: str, dot_colon: bool) -> re.Pattern[str]:
    any_char = "." if dot_colon else "[^:]"
    body = "".join(f"{any_char}*" if c == "*" else any_char if c == "?" else re.escape(c) for c in pattern)
    return re.compile(f"^{body}$", re.DOTALL)


def _action_match(pattern: str, action: str) -> bool:
    return _wildcard(pattern.lower(), True).match(action.lower()) is not None


def arn_match(pattern: str, arn: str) -> bool:
    """IAM's ARN matching: ``*`` alone matches everything; otherwise the six parts match one by one,
    the resource part (which may itself hold colons) as a whole."""
    if pattern == "*":
        return True
    if arn == "*":
        return False  # a request for "*" is only an action-level check: only Resource "*" covers it
    p_parts, a_parts = pattern.split(":", 5), arn.split(":", 5)
    if len(p_parts) != 6 or len(a_parts) != 6:
        return _wildcard(pattern, True).match(arn) is not None
    head = all(_wildcard(p, False).match(a) for p, a in zip(p_parts[:5], a_parts[:5], strict=True))
    return head and _wildcard(p_parts[5], True).match(a_parts[5]) is not None


_STRING_OPS = {
    "StringEquals": lambda p, v: p == v,
    "StringLike": lambda p, v: _wildcard(p, True).match(v) is not None,
    "ArnEquals": lambda p, v: p == v,
    "ArnLike": arn_match,
    "Bool": lambda p, v: p.lower() == v.lower(),
}


def conditions_hold(condition: Mapping[str, Mapping[str, Any]], context: Mapping[str, Any]) -> bool:
    return all(_condition(op, keys, context) for op, keys in condition.items())


def _condition(operator: str, keys: Mapping[str, Any], context: Mapping[str, Any]) -> bool:
    qualifier, _, op = operator.rpartition(":")
    if_exists = op.endswith("IfExists")
    op = op.removesuffix("IfExists")
    negated = "Not" in op and op.replace("Not", "", 1) in _STRING_OPS
    base = op.replace("Not", "", 1) if negated else op
    if base not in _STRING_OPS or qualifier not in ("", "ForAnyValue", "ForAllValues"):
        raise ValueError(f"condition operator {operator!r} is not supported by tests/support/iam_policy.py")
    test = _STRING_OPS[base]
    lowered = {k.lower(): v for k, v in context.items()}
    for key, expected in keys.items():
        if key.lower() not in lowered:
            if if_exists or qualifier == "ForAllValues":
                continue
            return False  # the key is absent: the condition does not hold (nor does its negation)
        actual = lowered[key.lower()]
        values = [actual] if isinstance(actual, str) else list(actual)
        patterns = [str(e) for e in (expected if isinstance(expected, list) else [expected])]

        def one(value: str, patterns: list[str] = patterns) -> bool:
            hit = any(test(p, value) for p in patterns)
            return not hit if negated else hit

        held = all(map(one, values)) if qualifier == "ForAllValues" else any(map(one, values))
        if not held:
            return False
    return True
