"""Hypothesis fuzzing of every guard with malformed and adversarial CloudTrail events.

Each case starts from a real-shaped event (events/ and the public reference payloads) and applies
random mutations: keys dropped, values replaced by other JSON types, nulls, ``{}`` containers,
huge lists, unicode, wrong sources. Properties, for every handler:
- nothing escapes as an unhandled exception: the guard answers with a result;
- a rejected or skipped event made no AWS call at all and says why;
- in audit mode no mutating call reaches EC2, EKS or IAM.
`make test` runs a sample (EKSGUARD_FUZZ_EXAMPLES, default 150); `make fuzz` runs 10,000.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws
from moto.moto_api._internal import mock_random
from tests.paths import EVENTS, REFERENCE_EVENTS, TEMPLATE
from tests.support.botocore_hooks import record_calls

from eksguard.aws import clients
from eksguard.config import Config, Mode
from eksguard.config_eks import EksConfig
from eksguard.local.invoke import load_app
from eksguard.local.seed import DEMO_REGION, RANDOM_SEED, seed_demo
from eksguard.local.standin import apply_moto_patches
from eksguard.pipeline import cluster_guard, irsa_guard, sg_guard

EXAMPLES = int(os.environ.get("EKSGUARD_FUZZ_EXAMPLES", "150"))
MUTATING_SERVICES = ("ec2.", "eks.", "iam.")


@dataclass(frozen=True)
class Guard:
    name: str
    handle: Callable[..., Any]
    seeds: tuple[dict[str, Any], ...]


def _wrap(record: dict[str, Any]) -> dict[str, Any]:
    """A bare CloudTrail record as EventBridge would deliver it."""
    if "detail" in record:
        return record
    source = "aws." + str(record.get("eventSource", "ec2.amazonaws.com")).split(".")[0]
    return {"version": "0", "id": "fuzz", "detail-type": "AWS API Call via CloudTrail", "source": source,
            "account": "123456789012", "time": "2026-11-20T00:00:00Z", "region": DEMO_REGION,
            "resources": [], "detail": record}


def _seeds(own: str, reference: tuple[str, ...]) -> tuple[dict[str, Any], ...]:
    found = [json.loads(p.read_text()) for p in sorted(EVENTS.glob(own))]
    if REFERENCE_EVENTS.is_dir():
        found += [_wrap(json.loads(p.read_text())) for prefix in reference
                  for p in sorted(REFERENCE_EVENTS.glob(f"{prefix}*.json"))]
    return tuple(found)


# Every guard the project has, with the payloads it is meant to read.
GUARDS = (
    Guard("sg-guard", sg_guard.handle, _seeds("sg-*.json", ("AuthorizeSecurityGroup", "CreateSecurityGroup"))),
    Guard("irsa-guard", irsa_guard.handle,
          _seeds("iam-*.json", ("CreateRole", "UpdateAssumeRolePolicy", "AttachRolePolicy"))),
    Guard("cluster-guard", lambda raw, config, aws, now: cluster_guard.handle(raw, config, EksConfig(), aws, now),
          _seeds("e[kc]*-*.json", ("CreateCluster", "CreateAccessEntry", "AssociateAccessPolicy",
                                   "ModifyInstanceMetadataOptions", "RunInstances"))),
)

json_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=40),
    st.sampled_from(["", "0.0.0.0/0", "::/0", "-1", "sg-", "sg-0000", "tcp", "22", "65536", "\u0000", "\U0001d7d8",
                     "AuthorizeSecurityGroupIngress", "ec2.amazonaws.com", "arn:aws:iam::1:role/eksguard/x"]),
)
json_value = st.recursive(json_leaf, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)), max_leaves=12)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _paths(child, (*prefix, index))


def _mutate(event: Any, path: tuple[Any, ...], kind: str, replacement: Any) -> Any:
    if not path:
        return replacement if kind == "replace" else event
    parent = event
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    if kind == "drop" and isinstance(parent, dict):
        del parent[last]
    elif kind == "empty":
        parent[last] = {}
    elif kind == "null":
        parent[last] = None
    elif kind == "huge":
        # Distinct items: one shared dict would let a later mutation multiply into millions of nodes.
        parent[last] = {"items": [{"cidrIp": "0.0.0.0/0", "groupId": "sg-1"} for _ in range(5000)]}
    elif kind == "listify":
        parent[last] = [parent[last]]
    else:
        parent[last] = replacement
    return event


@st.composite
def adversarial_events(draw: st.DrawFn, seeds: tuple[dict[str, Any], ...]) -> Any:
    event = copy.deepcopy(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        paths = list(_paths(event))
        path = draw(st.sampled_from(paths))
        kind = draw(st.sampled_from(["drop", "replace", "empty", "null", "huge", "listify"]))
        event = _mutate(event, path, kind, draw(json_value))
    return event


@pytest.fixture(scope="module")
def stand_in() -> Iterator[Config]:
    apply_moto_patches()
    with mock_aws():
        clients.reset()
        session = boto3.session.Session(region_name=DEMO_REGION)
        physical = load_app(TEMPLATE, {}, session).context.physical
        mock_random.seed(RANDOM_SEED)
        seed_demo(session)
        yield Config(mode=Mode.AUDIT, audit_table=physical["AuditTable"]["Ref"],
                     alert_topic_arn=physical["AlertTopic"]["Ref"])
        clients.reset()


@pytest.mark.parametrize("guard", GUARDS, ids=lambda g: g.name)
def test_guard_survives_adversarial_events(stand_in: Config, guard: Guard) -> None:
    assert guard.seeds, "no seed events found"

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=EXAMPLES <= 500,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                     HealthCheck.function_scoped_fixture])
    @given(event=adversarial_events(guard.seeds))
    def check(event: Any) -> None:
        calls.calls.clear()
        result = guard.handle(event, stand_in, aws, datetime.now(UTC))
        assert result.status in ("processed", "skipped", "rejected")
        if result.status in ("skipped", "rejected"):
            assert result.reason, "a refusal must say why"
            assert calls.calls == [], f"{result.status} event still called AWS: {calls.calls}"
        mutating = [c for c in calls.writes() if c.startswith(MUTATING_SERVICES)]
        assert mutating == [], f"audit mode changed something: {mutating}"

    # One warm client set for every example (as a warm Lambda has), carrying the call recorder.
    with record_calls() as calls:
        clients.reset()
        aws = clients.default()
        aws.client("ec2", DEMO_REGION), aws.client("eks", DEMO_REGION), aws.client("sns")
        check()


@pytest.mark.parametrize("guard", GUARDS, ids=lambda g: g.name)
def test_fuzz_examples_reach_the_guard(guard: Guard) -> None:
    """The seeds themselves parse: the fuzzer mutates real shapes, not noise the parser rejects at once."""
    assert any(s.get("detail", {}).get("eventName") for s in guard.seeds)
