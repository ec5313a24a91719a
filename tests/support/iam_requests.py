"""From a recorded AWS call to the authorization requests IAM makes for it: (action, resource ARN, context).

The action and the resource types it is authorized on come from the Service Authorization Reference,
as parliament ships it (``iam_definition.json``): required resource types (marked ``*``) become ARNs built
from the request's parameters (names resolved to full ARNs through the ARNs responses returned, e.g. a
role's path, a secret's six-character suffix); an action with no resource type is authorized on ``*`` only.
What the reference marks optional is added where the request makes it apply (a Query on an index is
authorized on the index; tags on a rule created with ``TagSpecifications`` need the rule type and
``ec2:CreateTags``), and one call the service makes on the caller's behalf is derived: Secrets Manager
decrypting a secret under a customer-managed KMS key needs the caller's ``kms:Decrypt`` through
``secretsmanager.<region>.amazonaws.com``.

A call this module cannot map raises ``UnmappedCall``: add its rule here rather than letting it pass.
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from tests.support.iam_policy import Request

# botocore service name -> IAM action prefix, where they differ.
_PREFIX: dict[str, str] = {}
# AWS authorizes these operations as another action (SNS: "PublishBatch requires sns:Publish").
_ALIASES = {"sns:PublishBatch": "sns:Publish"}
# "No permissions are required to perform this operation" (STS API reference); IAM cannot deny it.
NO_AUTH = frozenset({"sts:GetCallerIdentity"})
UNKNOWN = "UNKNOWN"  # an ARN part the call does not reveal: only a wildcard in a policy matches it


class UnmappedCall(LookupError):
    """A recorded call has no ARN rule here: the check refuses to guess."""


@dataclass(frozen=True)
class Scope:
    """What a call's ARNs are built from besides its parameters."""

    account: str
    region: str  # the client's region (the resource's, for regional services)
    partition: str
    seen_arns: frozenset[str]  # every ARN the responses of this invocation and its test named


@cache
def definitions() -> dict[str, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # parliament imports pkg_resources
        import parliament

    raw = json.loads((Path(parliament.__file__).parent / "iam_definition.json").read_text())
    return {s["prefix"]: {"privileges": {p["privilege"]: p for p in s["privileges"]},
                          "resources": {r["resource"]: r["arn"] for r in s["resources"]}} for s in raw}


def action_of(service: str, operation: str) -> str:
    action = f"{_PREFIX.get(service, service)}:{operation}"
    return _ALIASES.get(action, action)


def resource_types(action: str) -> tuple[list[str], list[str]]:
    """(required, optional) resource types of ``action``; both empty: authorized on ``*`` only."""
    prefix, name = action.split(":", 1)
    privilege = definitions().get(prefix, {}).get("privileges", {}).get(name)
    if privilege is None:
        raise UnmappedCall(f"{action} is not in the Service Authorization Reference data (parliament)")
    types = [t["resource_type"] for t in privilege["resource_types"] if t["resource_type"]]
    return [t.rstrip("*") for t in types if t.endswith("*")], [t for t in types if not t.endswith("*")]


def applicable(action: str, pattern: str) -> bool:
    """Whether a granted resource pattern can name a resource ``action`` is authorized on (a statement listing
    clusters and node groups for DescribeCluster grants nothing on the node groups)."""
    if pattern == "*":
        return True
    prefix, name = action.split(":", 1)
    service = definitions().get(prefix, {})
    privilege = service.get("privileges", {}).get(name)
    if privilege is None:
        return True  # an action the data does not know: keep it visible
    granted = pattern.split(":", 5)
    for entry in privilege["resource_types"]:
        template = service["resources"].get(entry["resource_type"].rstrip("*"))
        if not template:
            continue
        # Part by part, as IAM matches ARNs: no wildcard spans the colons before the resource part.
        parts = re.sub(r"\$\{[^}]*\}", "?*", template).split(":", 5)
        if len(parts) == len(granted) and all(_intersect(tuple(g), tuple(t)) for g, t in zip(granted, parts,
                                                                                             strict=True)):
            return True
    return False


def _intersect(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """Whether some string matches both wildcard patterns (``*`` any run, ``?`` one character)."""

    @cache
    def match(i: int, j: int) -> bool:
        if i == len(a) and j == len(b):
            return True
        if i < len(a) and a[i] == "*" and (match(i + 1, j) or (j < len(b) and match(i, j + 1))):
            return True
        if j < len(b) and b[j] == "*" and (match(i, j + 1) or (i < len(a) and match(i + 1, j))):
            return True
        if i < len(a) and j < len(b) and "*" not in (a[i], b[j]):
            return (a[i] == b[j] or "?" in (a[i], b[j])) and match(i + 1, j + 1)
        return False

    return match(0, 0)


def known_action(action: str) -> bool:
    prefix, _, name = action.partition(":")
    return name in definitions().get(prefix, {}).get("privileges", {})


def requests(call: Mapping[str, Any], scope: Scope) -> list[Request]:
    """Every authorization request the call needs."""
    action = action_of(call["service"], call["operation"])
    if action in NO_AUTH:
        return []
    special = _SPECIAL.get(action)
    if special is not None:
        return list(special(action, call, scope))
    required, _ = resource_types(action)
    why = f"{call['service']}.{call['operation']}"
    if not required:
        return [Request(action, "*", {}, why)]
    out = []
    for kind in required:
        build = _BUILDERS.get((action.split(":", 1)[0], kind))
        if build is None:
            raise UnmappedCall(f"{action}: no ARN rule for resource type {kind!r} (tests/support/iam_requests.py)")
        out += [Request(action, arn, {}, why) for arn in build(call["params"], scope)]
    return out


# ---- ARNs from parameters -------------------------------------------------------------------------------

def _arn(scope: Scope, service: str, resource: str, region: str | None = None, account: str | None = None) -> str:
    return f"arn:{scope.partition}:{service}:{scope.region if region is None else region}:" \
           f"{scope.account if account is None else account}:{resource}"


def _seen(scope: Scope, pattern: str) -> str | None:
    regex = re.compile(pattern)
    found = sorted(a for a in scope.seen_arns if regex.search(a))
    return found[0] if found else None


def _cluster(params: Mapping[str, Any], scope: Scope) -> list[str]:
    name = params.get("name") or params.get("clusterName")
    return [_arn(scope, "eks", f"cluster/{name}")]


def _nodegroup(params: Mapping[str, Any], scope: Scope) -> list[str]:
    prefix = f"nodegroup/{params['clusterName']}/{params['nodegroupName']}/"
    found = _seen(scope, re.escape(f":eks:{scope.region}:{scope.account}:{prefix}") + r"[^/]+$")
    return [found or _arn(scope, "eks", prefix + UNKNOWN)]


def _access_entry(params: Mapping[str, Any], scope: Scope) -> list[str]:
    # access-entry/<cluster>/<role|user>/<account>/<name>/<uuid>: the principal's path is not part of it.
    principal = str(params["principalArn"])
    account, kind_name = principal.split(":", 5)[4], principal.split(":", 5)[5]
    kind, name = kind_name.split("/", 1)[0], kind_name.rsplit("/", 1)[-1]
    return [_arn(scope, "eks", f"access-entry/{params['clusterName']}/{kind}/{account}/{name}/{UNKNOWN}")]


def _role(params: Mapping[str, Any], scope: Scope) -> list[str]:
    name = str(params["RoleName"])
    # The role's path is part of its ARN (a Deny on role/eksguard/* depends on it): take it from a response.
    found = _seen(scope, re.escape(f":iam::{scope.account}:role/") + r"(.*/)?" + re.escape(name) + "$")
    return [found or _arn(scope, "iam", f"role/{name}", region="")]


def _table(params: Mapping[str, Any], scope: Scope) -> list[str]:
    name = str(params["TableName"])
    return [name if name.startswith("arn:") else _arn(scope, "dynamodb", f"table/{name}")]


def _trail(params: Mapping[str, Any], scope: Scope) -> list[str]:
    name = str(params.get("Name") or params.get("TrailName"))
    return [name if name.startswith("arn:") else _arn(scope, "cloudtrail", f"trail/{name}")]


def _launch_template(params: Mapping[str, Any], scope: Scope) -> list[str]:
    return [_arn(scope, "ec2", f"launch-template/{params.get('LaunchTemplateId') or UNKNOWN}")]


def _queue(params: Mapping[str, Any], scope: Scope) -> list[str]:
    url = str(params["QueueUrl"])
    account, name = url.rstrip("/").split("/")[-2:]
    return [_arn(scope, "sqs", name, account=account)]


_BUILDERS: dict[tuple[str, str], Callable[[Mapping[str, Any], Scope], list[str]]] = {
    ("ec2", "security-group"): lambda p, s: [_arn(s, "ec2", f"security-group/{p['GroupId']}")],
    ("ec2", "launch-template"): _launch_template,
    ("eks", "cluster"): _cluster,
    ("eks", "nodegroup"): _nodegroup,
    ("eks", "access-entry"): _access_entry,
    ("iam", "role"): _role,
    ("iam", "oidc-provider"): lambda p, s: [str(p["OpenIDConnectProviderArn"])],
    ("iam", "policy"): lambda p, s: [str(p["PolicyArn"])],
    ("dynamodb", "table"): _table,
    ("sns", "topic"): lambda p, s: [str(p["TopicArn"])],
    ("cloudtrail", "trail"): _trail,
    ("kms", "key"): lambda p, s: [str(p["KeyId"])],
    ("sqs", "queue"): _queue,
    # CloudWatch Logs authorizes log-group actions on the group's ARN with ":*" appended (why policies name
    # log-group:NAME:*); the reference's template omits it.
    ("logs", "log-group"): lambda p, s: [_arn(s, "logs", f"log-group:{p['logGroupName']}:*")],
}


# ---- calls whose resources or dependencies depend on the request ---------------------------------------

def _dynamodb_read(action: str, call: Mapping[str, Any], scope: Scope) -> Iterator[Request]:
    params = call["params"]
    table = _table(params, scope)[0]
    # A Query or Scan of an index is authorized on the index's ARN, not the table's.
    arn = f"{table}/index/{params['IndexName']}" if params.get("IndexName") else table
    yield Request(action, arn, {}, f"dynamodb.{call['operation']}")


def _dynamodb_batch(action: str, call: Mapping[str, Any], scope: Scope) -> Iterator[Request]:
    for name in call["params"].get("RequestItems", {}):
        yield Request(action, _table({"TableName": name}, scope)[0], {}, f"dynamodb.{call['operation']}")


# "Permissions for Put, Update, Delete, and Get actions are governed by the permissions used for the underlying
# PutItem, UpdateItem, DeleteItem, and GetItem operations" (DynamoDB developer guide, Using IAM with DynamoDB
# transactions): TransactWriteItems is no IAM action of its own.
_TRANSACT_ACTIONS = {"Put": "dynamodb:PutItem", "Update": "dynamodb:UpdateItem", "Delete": "dynamodb:DeleteItem",
                     "ConditionCheck": "dynamodb:ConditionCheckItem"}


def _dynamodb_transact(action: str, call: Mapping[str, Any], scope: Scope) -> Iterator[Request]:
    for item in call["params"].get("TransactItems", []):
        for kind, body in item.items():
            yield Request(_TRANSACT_ACTIONS[kind], _table(body, scope)[0], {}, f"dynamodb.{call['operation']}")


def _ec2_authorize(action: str, call: Mapping[str, Any], scope: Scope) -> Iterator[Request]:
    params, why = call["params"], f"ec2.{call['operation']}"
    yield Request(action, _arn(scope, "ec2", f"security-group/{params['GroupId']}"), {}, why)
    tagged = {t.get("ResourceType") for t in params.get("TagSpecifications") or []}
    if "security-group-rule" in tagged:
        # Tagging on create: the new rule (no id yet: IAM sees .../*) for the action and for ec2:CreateTags.
        rule = _arn(scope, "ec2", "security-group-rule/*")
        yield Request(action, rule, {}, why)
        yield Request("ec2:CreateTags", rule, {"ec2:CreateAction": call["operation"]}, why + " TagSpecifications")


_EC2_ID_TYPES = {"sg": "security-group", "sgr": "security-group-rule", "lt": "launch-template", "i": "instance",
                 "vpc": "vpc", "subnet": "subnet"}


def _ec2_tags(action: str, call: Mapping[str, Any], scope: Scope) -> Iterator[Request]:
    for resource_id in call["params"].get("Resources", []):
        kind = _EC2_ID_TYPES.get(str(resource_id).split("-", 1)[0])
        if kind is None:
            raise UnmappedCall(f"{action} on {resource_id}: unknown EC2 id prefix")
        yield Request(action, _arn(scope, "ec2", f"{kind}/{resource_id}"), {}, f"ec2.{call['operation']}")


def _put_events(action: str, call: Mapping[str, Any], scope: Scope) -> Iterator[Request]:
    for entry in call["params"].get("Entries", []):
        bus = str(entry.get("EventBusName") or "default")
        arn = bus if bus.startswith("arn:") else _arn(scope, "events", f"event-bus/{bus}")
        context = {"events:source": str(entry.get("Source", "")),
                   "events:detail-type": str(entry.get("DetailType", ""))}
        yield Request(action, arn, context, "events.PutEvents")


def _import_findings(action: str, call: Mapping[str, Any], scope: Scope) -> Iterator[Request]:
    for arn in sorted({str(f.get("ProductArn")) for f in call["params"].get("Findings", [])}):
        yield Request(action, arn, {}, "securityhub.BatchImportFindings")


def _secret_arn(call: Mapping[str, Any], scope: Scope) -> str:
    secret_id = str(call["params"]["SecretId"])
    # IAM sees the secret's full ARN (with its suffix) whatever form the caller named it by.
    named = secret_id if secret_id.startswith("arn:") else None
    for arn in call.get("arns", []):
        if ":secretsmanager:" in arn and (named is None or arn.startswith(named)):
            return str(arn)
    if named:
        return named
    return _arn(scope, "secretsmanager", f"secret:{secret_id}-{UNKNOWN}")


def _get_secret(action: str, call: Mapping[str, Any], scope: Scope) -> Iterator[Request]:
    arn = _secret_arn(call, scope)
    yield Request(action, arn, {}, "secretsmanager.GetSecretValue")
    key = call.get("kms_key_arn")
    if key and key != "unknown":  # unknown: a moto server in another process holds the secret (reported)
        # Secrets Manager decrypts with the caller's permission, through the service, for this secret only.
        region = arn.split(":")[3]
        context = {"kms:ViaService": f"secretsmanager.{region}.amazonaws.com",
                   "kms:EncryptionContext:SecretARN": arn, "kms:CallerAccount": scope.account}
        yield Request("kms:Decrypt", str(key), context, "secretsmanager.GetSecretValue (customer-managed key)")


def _eks_tags(action: str, call: Mapping[str, Any], scope: Scope) -> Iterator[Request]:
    params = call["params"]
    tags = params.get("tags") or {}
    keys = sorted(tags) if tags else sorted(params.get("tagKeys") or [])
    context: dict[str, str | list[str]] = {"aws:TagKeys": keys}
    context.update({f"aws:RequestTag/{k}": str(v) for k, v in tags.items()})
    yield Request(action, str(params["resourceArn"]), context, f"eks.{call['operation']}")


def _eks_access_policy(action: str, call: Mapping[str, Any], scope: Scope) -> Iterator[Request]:
    params = call["params"]
    context: dict[str, str | list[str]] = {"eks:policyArn": str(params.get("policyArn", ""))}
    scope_type = (params.get("accessScope") or {}).get("type")
    if scope_type:
        context["eks:accessScope"] = str(scope_type)
    if (params.get("accessScope") or {}).get("namespaces"):
        context["eks:namespaces"] = [str(n) for n in params["accessScope"]["namespaces"]]
    for arn in _access_entry(params, scope):
        yield Request(action, arn, context, f"eks.{call['operation']}")


_SPECIAL: dict[str, Callable[[str, Mapping[str, Any], Scope], Iterable[Request]]] = {
    "eks:TagResource": _eks_tags,
    "eks:UntagResource": _eks_tags,
    "eks:AssociateAccessPolicy": _eks_access_policy,
    "eks:DisassociateAccessPolicy": _eks_access_policy,
    "dynamodb:Query": _dynamodb_read,
    "dynamodb:Scan": _dynamodb_read,
    "dynamodb:BatchWriteItem": _dynamodb_batch,
    "dynamodb:BatchGetItem": _dynamodb_batch,
    "dynamodb:TransactWriteItems": _dynamodb_transact,
    "ec2:AuthorizeSecurityGroupIngress": _ec2_authorize,
    "ec2:AuthorizeSecurityGroupEgress": _ec2_authorize,
    "ec2:CreateTags": _ec2_tags,
    "ec2:DeleteTags": _ec2_tags,
    "events:PutEvents": _put_events,
    "securityhub:BatchImportFindings": _import_findings,
    "secretsmanager:GetSecretValue": _get_secret,
}
