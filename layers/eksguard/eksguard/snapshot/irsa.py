"""IRSA trust policies as re-read from IAM, and the EKS clusters and OIDC providers they point at.

A trust document is read leniently in shape (``Principal`` as ``"*"``, a list or a map of strings or lists,
``Action`` as a string or a list, one statement or many, condition values as a string or a list) and
strictly in meaning: IAM compares condition keys case-insensitively, so issuer keys are matched in
lower case, and a condition only constrains a claim when its operator is a positive string match.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

WEB_IDENTITY_ACTION = "sts:AssumeRoleWithWebIdentity"
STS_AUDIENCE = "sts.amazonaws.com"
SA_TAG = "eksguard:service-account"
CLUSTER_TAG = "eksguard:cluster"
# Set operators and IfExists do not change what a single-valued claim (aud, sub) must look like.
_SET_PREFIXES = ("forallvalues:", "foranyvalue:")
POSITIVE_OPERATORS = frozenset({"stringequals", "stringlike", "stringequalsignorecase"})
_ISSUER = re.compile(r"^(?:https://)?(oidc\.eks\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/id/[A-Za-z0-9]+)/?$", re.I)
# Kubernetes names: a namespace is a DNS label, a service account name a DNS subdomain.
_SA_TAG_VALUE = re.compile(r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?)/([a-z0-9]([-.a-z0-9]*[a-z0-9])?)$")


class TrustPolicyError(ValueError):
    """A document that is not a trust policy eksguard can reason about."""


def like_match(pattern: str, value: str) -> bool:
    """IAM StringLike: ``*`` any run of characters, ``?`` one character, nothing else special."""
    regex = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    return re.fullmatch(regex, value, re.DOTALL) is not None


def eks_issuer(text: str) -> str | None:
    """``oidc.eks.<region>.amazonaws.com/id/<ID>`` (as written, without scheme) or None for other issuers."""
    match = _ISSUER.match(text.strip())
    return match.group(1) if match else None


def issuer_region(issuer: str) -> str:
    match = _ISSUER.match(issuer)
    if not match:
        raise TrustPolicyError(f"{issuer!r} is not an EKS OIDC issuer")
    return match.group(2).lower()


def provider_issuer(arn: str) -> str | None:
    """The EKS issuer an ``oidc-provider`` ARN names, or None."""
    _, sep, rest = arn.partition(":oidc-provider/")
    return eks_issuer(rest) if sep else None


def provider_arn(account: str, issuer: str, partition: str = "aws") -> str:
    return f"arn:{partition}:iam::{account}:oidc-provider/{issuer}"


def service_account_sub(namespace: str, name: str) -> str:
    return f"system:serviceaccount:{namespace}:{name}"


def sa_from_tag(value: str) -> str | None:
    """``<namespace>/<name>`` -> the exact ``sub`` of that service account; None when malformed."""
    match = _SA_TAG_VALUE.match(value.strip())
    return service_account_sub(match.group(1), match.group(3)) if match else None


def _strings(value: Any, where: str) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    out = []
    for item in items:
        if isinstance(item, bool):
            out.append("true" if item else "false")
        elif isinstance(item, str | int | float):
            out.append(str(item))
        else:
            raise TrustPolicyError(f"{where} must be a string or a list of strings, got {item!r}")
    return tuple(out)


@dataclass(frozen=True)
class Condition:
    operator: str  # as written: "StringEquals", "ForAnyValue:StringLike", ...
    key: str  # as written: "oidc.eks.../id/X:sub"
    values: tuple[str, ...]

    @property
    def base_operator(self) -> str:
        op = self.operator.lower()
        for prefix in _SET_PREFIXES:
            op = op.removeprefix(prefix)
        return op.removesuffix("ifexists")

    @property
    def positive(self) -> bool:
        return self.base_operator in POSITIVE_OPERATORS

    @property
    def like(self) -> bool:
        return self.base_operator == "stringlike"

    @property
    def issuer_key(self) -> str:
        return self.key.rpartition(":")[0].lower()

    @property
    def claim(self) -> str:
        return self.key.rpartition(":")[2].lower()

    @property
    def wildcard_values(self) -> tuple[str, ...]:
        return tuple(v for v in self.values if "*" in v or "?" in v)


@dataclass(frozen=True)
class Statement:
    index: int
    sid: str | None
    effect: str
    principals: tuple[tuple[str, str], ...]  # (kind, value): ("*", "*"), ("Federated", arn), ("AWS", ...)
    actions: tuple[str, ...]
    conditions: tuple[Condition, ...]

    @property
    def ref(self) -> str:
        return f"Statement[{self.index}]" + (f" (Sid {self.sid})" if self.sid else "")

    @property
    def allows(self) -> bool:
        return self.effect.lower() == "allow"

    @property
    def web_identity(self) -> bool:
        return any(fnmatch.fnmatchcase(WEB_IDENTITY_ACTION.lower(), a.lower()) for a in self.actions)

    @property
    def anyone(self) -> bool:
        return any(kind in ("*", "AWS") and value == "*" for kind, value in self.principals)

    @property
    def eks_issuers(self) -> tuple[str, ...]:
        found = (provider_issuer(v) for kind, v in self.principals if kind == "Federated")
        return tuple(dict.fromkeys(i for i in found if i))

    @property
    def provider_arns(self) -> tuple[str, ...]:
        return tuple(v for kind, v in self.principals if kind == "Federated" and provider_issuer(v))

    def claim_conditions(self, issuer: str, claim: str) -> tuple[Condition, ...]:
        """The positive string conditions on ``<issuer>:<claim>`` (keys compared case-insensitively)."""
        key = issuer.lower()
        return tuple(c for c in self.conditions if c.positive and c.issuer_key == key and c.claim == claim)


@dataclass(frozen=True)
class TrustPolicy:
    statements: tuple[Statement, ...]

    @property
    def irsa_statements(self) -> tuple[Statement, ...]:
        return tuple(s for s in self.statements if s.allows and s.web_identity and s.eks_issuers)


def parse_trust(document: Mapping[str, Any]) -> TrustPolicy:
    if not isinstance(document, Mapping):
        raise TrustPolicyError("a trust policy must be a JSON object")
    raw = document.get("Statement")
    items = [raw] if isinstance(raw, Mapping) else raw
    if not isinstance(items, list) or not items:
        raise TrustPolicyError("Statement must be an object or a non-empty list of objects")
    return TrustPolicy(tuple(_statement(i, s) for i, s in enumerate(items)))


def _statement(index: int, raw: Any) -> Statement:
    where = f"Statement[{index}]"
    if not isinstance(raw, Mapping):
        raise TrustPolicyError(f"{where} must be an object")
    effect = raw.get("Effect")
    if effect not in ("Allow", "Deny"):
        raise TrustPolicyError(f"{where}.Effect must be Allow or Deny, got {effect!r}")
    sid = raw.get("Sid")
    return Statement(index, sid if isinstance(sid, str) else None, effect, _principals(raw.get("Principal"), where),
                     _strings(raw.get("Action", []), f"{where}.Action"), _conditions(raw.get("Condition"), where))


def _principals(raw: Any, where: str) -> tuple[tuple[str, str], ...]:
    if raw is None:
        return ()
    if raw == "*":
        return (("*", "*"),)
    if isinstance(raw, str | list):  # not IAM's grammar, but read as AWS principals rather than rejected
        return tuple(("AWS", v) for v in _strings(raw, f"{where}.Principal"))
    if not isinstance(raw, Mapping):
        raise TrustPolicyError(f"{where}.Principal must be \"*\" or an object")
    return tuple((str(kind), v) for kind, value in raw.items() for v in _strings(value, f"{where}.Principal.{kind}"))


def _conditions(raw: Any, where: str) -> tuple[Condition, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, Mapping):
        raise TrustPolicyError(f"{where}.Condition must be an object")
    out = []
    for operator, block in raw.items():
        if not isinstance(block, Mapping):
            raise TrustPolicyError(f"{where}.Condition.{operator} must be an object")
        for key, value in block.items():
            out.append(Condition(str(operator), str(key), _strings(value, f"{where}.Condition.{operator}.{key}")))
    return tuple(out)


@dataclass(frozen=True)
class Role:
    name: str
    arn: str
    path: str
    # The trust policy exactly as IAM returned it (decoded JSON): the audit before-image.
    document: Mapping[str, Any] = field(compare=False, repr=False)
    tags: Mapping[str, str] = field(default_factory=dict, compare=False)

    @cached_property
    def trust(self) -> TrustPolicy:
        return parse_trust(self.document)

    def known_subs(self, issuer: str) -> tuple[tuple[str, ...], str]:
        """The exact service-account subs this role is for, and where that came from (DESIGN section 5):
        exact subs already in the trust for ``issuer``, else the ``eksguard:service-account`` tag."""
        exact = [v for s in self.trust.irsa_statements for c in s.claim_conditions(issuer, "sub")
                 for v in c.values if "*" not in v and "?" not in v]
        if exact:
            return tuple(dict.fromkeys(exact)), "the exact sub already in the trust policy"
        tagged = sa_from_tag(self.tags.get(SA_TAG, ""))
        if tagged:
            return (tagged,), f"the role tag {SA_TAG}={self.tags[SA_TAG]}"
        return (), ""


@dataclass(frozen=True)
class ClusterIssuer:
    """A live cluster and its current OIDC issuer (None while EKS has not assigned one yet)."""

    name: str
    region: str
    arn: str = ""
    issuer: str | None = None
    # Where its Kubernetes API answers (DescribeCluster): the ServiceAccounts are DESIGN section 5's third source.
    endpoint: str | None = field(default=None, compare=False)
    ca_data: str | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class IssuerSeen:
    """One line of the cluster -> issuer history kept in the audit table."""

    cluster: str
    region: str
    issuer: str


@dataclass(frozen=True)
class IrsaSnapshot:
    roles: tuple[Role, ...]
    account: str
    partition: str = "aws"
    # Providers looked up, by lower-case ARN -> whether IAM has it. Providers not looked up are not judged.
    providers: Mapping[str, bool] = field(default_factory=dict)
    # Every live cluster of each region in ``regions`` (a stale issuer is judged only there).
    clusters: tuple[ClusterIssuer, ...] = ()
    regions: frozenset[str] = frozenset()
    history: tuple[IssuerSeen, ...] = ()
    # (issuer, role ARN), lower case -> subs of the cluster's ServiceAccounts annotated with that role. Only the
    # clusters read are here: a key that is absent was not read (never "no ServiceAccount").
    annotated: Mapping[tuple[str, str], tuple[str, ...]] = field(default_factory=dict, compare=False)

    def known_subs(self, role: Role, issuer: str) -> tuple[tuple[str, ...], str]:
        """DESIGN section 5, in order: an exact sub already in the trust, the ``eksguard:service-account`` tag, the
        cluster's only ServiceAccount annotated with the role. Two or more annotated: nothing (never guess)."""
        subs, source = role.known_subs(issuer)
        annotated = self.annotated.get((issuer.lower(), role.arn.lower()))
        if subs or not annotated:
            return subs, source
        if len(annotated) > 1:
            return (), f"{len(annotated)} ServiceAccounts are annotated with the role ({', '.join(annotated)})"
        return annotated, f"the only ServiceAccount of the cluster annotated with the role ({annotated[0]})"

    def live_cluster(self, issuer: str) -> ClusterIssuer | None:
        key = issuer.lower()
        return next((c for c in self.clusters if c.issuer and c.issuer.lower() == key), None)

    def provider_exists(self, arn: str) -> bool | None:
        return self.providers.get(arn.lower())

    def cluster(self, name_or_arn: str, region: str | None = None) -> ClusterIssuer | None:
        if name_or_arn.startswith("arn:"):
            return next((c for c in self.clusters if c.arn == name_or_arn), None)
        named = [c for c in self.clusters if c.name == name_or_arn]
        return next((c for c in named if c.region == region), named[0] if len(named) == 1 else None)

    def seen_with(self, issuer: str) -> tuple[IssuerSeen, ...]:
        key = issuer.lower()
        return tuple(h for h in self.history if h.issuer.lower() == key)


def successor(role: Role, stale_issuer: str, snapshot: IrsaSnapshot) -> tuple[ClusterIssuer | None, str]:
    """The live cluster that replaced the one ``stale_issuer`` belonged to, and how eksguard knows:
    the role's ``eksguard:cluster`` tag first, else the issuer history. Never a guess."""
    region = issuer_region(stale_issuer)
    tagged = role.tags.get(CLUSTER_TAG, "").strip()
    if tagged:
        cluster = snapshot.cluster(tagged, region)
        usable = cluster is not None and cluster.issuer and cluster.issuer.lower() != stale_issuer.lower()
        return (cluster, f"role tag {CLUSTER_TAG}={tagged}") if usable else (None, "")
    for seen in snapshot.seen_with(stale_issuer):
        cluster = snapshot.cluster(seen.cluster, seen.region)
        if cluster is not None and cluster.region == seen.region and cluster.issuer:
            return cluster, f"issuer history: {stale_issuer} was cluster {seen.cluster}'s"
    return None, ""


def referenced_regions(roles: Iterable[Role]) -> frozenset[str]:
    return frozenset(issuer_region(i) for r in roles for s in r.trust.irsa_statements for i in s.eks_issuers)


def refresh_targets(snapshot: IrsaSnapshot, cluster: ClusterIssuer) -> tuple[Role, ...]:
    """Roles still trusting a stale issuer that ``cluster`` replaced (IR-005): what a refresh rewrites.
    Pure, over any snapshot (one event's candidates, or every role of the account for the sweep)."""
    out = []
    for role in snapshot.roles:
        for stmt in role.trust.irsa_statements:
            stale = [i for i in stmt.eks_issuers
                     if issuer_region(i) in snapshot.regions and snapshot.live_cluster(i) is None]
            if any(successor(role, i, snapshot)[0] == cluster for i in stale):
                out.append(role)
                break
    return tuple(out)
