"""The sweep's batched audit trail and its one read of the region, and an event's folded outcome write and kept
cluster topology, against moto through the real handlers: no before-image, no change, whatever DynamoDB does."""

from __future__ import annotations

import copy
import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from moto.core.botocore_stubber import MockRawResponse
from tests.functional.conftest import Account
from tests.paths import EVENTS
from tests.support.botocore_hooks import inject, json_error, record_calls

from eksguard import clock
from eksguard.apply import sg as apply_sg
from eksguard.aws import audit as audit_api
from eksguard.aws import ec2 as ec2_api
from eksguard.aws import topology
from eksguard.aws.audit import WRITE_LIMIT
from eksguard.aws.clients import Aws
from eksguard.config import Config, Scope
from eksguard.config_eks import EksConfig
from eksguard.detect.catalog import Posture, evaluate
from eksguard.local.invoke import Invocation, invoke
from eksguard.local.seed import DEMO_REGION, seed_cluster_posture
from eksguard.pipeline import cluster_guard, posture, sweep
from eksguard.snapshot.sg import SgSnapshot

WORLD_SSH = (22, "0.0.0.0/0")
OPEN_GROUPS = 30
SMALL_WRITES = 25  # with `small_transactions`: two before-image transactions, 25 and 5, as 130 groups would make


def _event(event_id: str) -> dict[str, Any]:
    return {**json.loads((EVENTS / "scheduled-sweep.json").read_text()), "id": event_id}


def _sweep(account: Account, event_id: str) -> Invocation:
    return invoke(account.app(Mode="enforce"), "SweepFunction", _event(event_id))


@pytest.fixture
def open_groups(account: Account) -> list[str]:
    """OPEN_GROUPS groups in the cluster VPC, each with SSH open to the world (SG-002: revoked in enforce mode)."""
    groups = []
    for i in range(OPEN_GROUPS):
        group = account.ec2.create_security_group(GroupName=f"open-{i:02d}", Description="bulk",
                                                  VpcId=account.acct.vpc_id)["GroupId"]
        account.ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[{
            "IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
        groups.append(group)
    account.app(Mode="enforce")  # provisioned before any fault is injected
    return groups


def _audit_table(account: Account) -> str:
    return str(account.app(Mode="enforce").context.physical["AuditTable"]["Ref"])


def _remediations(account: Account) -> dict[str, dict[str, Any]]:
    """The audit table's remediation records (it also holds the sweep state and the clusters' issuers)."""
    return {r["remediation_id"]: r for r in account.audit_records() if "outcome" in r}


@pytest.fixture
def small_transactions(monkeypatch: pytest.MonkeyPatch) -> None:
    """Records written SMALL_WRITES a transaction instead of DynamoDB's 100, so that 30 groups make two."""
    monkeypatch.setattr(apply_sg, "WRITE_LIMIT", SMALL_WRITES)
    monkeypatch.setattr(audit_api, "WRITE_LIMIT", SMALL_WRITES)


def _puts(request: Any, table: str) -> list[dict[str, Any]]:
    """The records a TransactWriteItems request puts into ``table``."""
    items = json.loads(request.body).get("TransactItems", [])
    return [i["Put"]["Item"] for i in items if "Put" in i and i["Put"]["TableName"] == table]


def _before_images(request: Any, table: str) -> list[dict[str, Any]]:
    """The records of a transaction that stores before-images (every record still pending)."""
    puts = _puts(request, table)
    return puts if puts and all(p.get("outcome", {}).get("S") == "pending" for p in puts) else []


def _cancelled(reasons: list[str]) -> AWSResponse:
    """DynamoDB's answer to a cancelled transaction: one reason per item, "None" for those that would pass."""
    body = json.dumps({"__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
                       "message": "Transaction cancelled, please refer cancellation reasons for specific reasons",
                       "CancellationReasons": [{"Code": r} for r in reasons]}).encode()
    return AWSResponse("https://dynamodb.amazonaws.com/", 400, {}, MockRawResponse(body))


def test_a_before_image_transaction_cancelled_by_a_conflict_is_made_again_before_any_revoke(
        account: Account, open_groups: list[str]) -> None:
    table = _audit_table(account)
    first: list[Any] = []

    def conflict() -> AWSResponse:  # another writer held one of the items: DynamoDB cancelled the whole transaction
        images = _before_images(first[0], table)
        return _cancelled(["TransactionConflict"] + ["None"] * (len(images) - 1))

    def once(request: Any) -> bool:
        if not first and _before_images(request, table):
            first.append(request)
            return True
        return False

    with inject("dynamodb.TransactWriteItems", conflict, when=once) as hits, record_calls() as calls:
        result = _sweep(account, "sweep-conflict")
    assert result.ok, result.error
    assert hits == [1]
    for group in open_groups:
        assert WORLD_SSH not in account.ingress_sources(group)
    cancelled = {p["remediation_id"]["S"] for p in _before_images(first[0], table)}
    records = _remediations(account)
    assert cancelled <= set(records)
    assert all(records[rid]["outcome"] == "revoked" for rid in cancelled)
    # The transaction made again (one more call) before the first revoke of the sweep.
    writes = [n for n, c in enumerate(calls.calls) if c == "dynamodb.TransactWriteItems"]
    revokes = [n for n, c in enumerate(calls.calls) if c == "ec2.RevokeSecurityGroupIngress"]
    assert len(revokes) >= OPEN_GROUPS and writes[1] < revokes[0]


def test_a_transaction_cancelled_for_a_reason_that_will_not_pass_is_not_made_again(
        account: Account, open_groups: list[str]) -> None:
    table = _audit_table(account)
    with inject("dynamodb.TransactWriteItems", lambda: _cancelled(["ValidationError", "TransactionConflict"]),
                when=lambda request: bool(_before_images(request, table))) as hits:
        result = _sweep(account, "sweep-invalid")
    assert not result.ok and result.error is not None and result.error["errorType"] == "RetryableError"
    assert hits == [1]  # one transaction of 30 records, tried once: a ValidationError will not pass
    assert all(WORLD_SSH in account.ingress_sources(g) for g in open_groups)  # no before-image, no change
    failed = [a for a in account.alerts() if a["rule_id"] == "SG-002" and a["action"] == "failed"]
    assert len(failed) == OPEN_GROUPS and all("ValidationError" in a["error"] for a in failed)


@pytest.mark.usefixtures("small_transactions")
def test_a_before_image_batch_that_fails_revokes_none_of_its_rules(account: Account, open_groups: list[str]) -> None:
    table = _audit_table(account)
    doomed: set[str] = set()  # remediation ids of the first before-image batch: every write of them fails

    def fails(request: Any) -> bool:
        images = _before_images(request, table)
        if not doomed and images:
            doomed.update(p["remediation_id"]["S"] for p in images)
        return bool(images) and {p["remediation_id"]["S"] for p in images} <= doomed

    with inject("dynamodb.TransactWriteItems", lambda: json_error("AccessDeniedException", 400), when=fails):
        result = _sweep(account, "sweep-denied")
    assert not result.ok and result.error is not None and result.error["errorType"] == "RetryableError"
    alerts = {a["remediation_id"]: a for a in account.alerts() if a["rule_id"] == "SG-002"}
    failed = {rid for rid, a in alerts.items() if a["action"] == "failed"}
    assert failed == doomed and 0 < len(doomed) <= SMALL_WRITES < OPEN_GROUPS
    untouched = {alerts[rid]["resource_id"] for rid in failed}
    records = _remediations(account)
    for group in open_groups:
        if group in untouched:  # no before-image, no change, no record
            assert WORLD_SSH in account.ingress_sources(group)
        else:
            assert WORLD_SSH not in account.ingress_sources(group)
    assert not doomed & set(records)
    assert all("AccessDeniedException" in alerts[rid]["error"] for rid in failed)
    # The retry Lambda makes finds the rules again and finishes the job.
    again = _sweep(account, "sweep-denied")
    assert again.ok, again.error
    assert all(WORLD_SSH not in account.ingress_sources(g) for g in open_groups)


def test_outcomes_come_back_in_batches_with_the_exact_rule_and_the_alerted_mark(account: Account,
                                                                              open_groups: list[str]) -> None:
    before = {g: account.rules(g) for g in open_groups}
    with record_calls() as calls:
        result = _sweep(account, "sweep-batches")
    assert result.ok, result.error
    revoked = [r for r in _remediations(account).values() if r["outcome"] == "revoked" and r["resource_id"] in before]
    assert len(revoked) == OPEN_GROUPS
    for record in revoked:  # the before-image is the rule exactly as DescribeSecurityGroupRules returned it
        world = [r for r in before[record["resource_id"]] if r.get("CidrIpv4") == "0.0.0.0/0" and not r["IsEgress"]]
        assert [record["before_image"]] == world and record["alerted"] == "true"
    ddb = Counter(calls.names("dynamodb"))
    # Before-images and outcomes, 100 a transaction: one each here, not one write per revoke.
    assert ddb["dynamodb.TransactWriteItems"] == 2 * -(-OPEN_GROUPS // WRITE_LIMIT)
    assert ddb["dynamodb.PutItem"] + ddb["dynamodb.UpdateItem"] < OPEN_GROUPS // 3, ddb


def test_rules_are_read_only_for_the_groups_with_a_finding(account: Account, open_groups: list[str]) -> None:
    for i in range(40):  # fine groups: judged on their permissions, their rules never read
        group = account.ec2.create_security_group(GroupName=f"fine-{i:02d}", Description="bulk",
                                                  VpcId=account.acct.vpc_id)["GroupId"]
        account.ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[{
            "IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}])
    session = boto3.session.Session(region_name=DEMO_REGION)
    asked: list[dict[str, Any]] = []
    calls: Counter[str] = Counter()

    def seen(model: Any, params: dict[str, Any], **_: Any) -> None:  # the caller's parameters, as given
        calls[model.name] += 1
        if model.name == "DescribeSecurityGroupRules":
            asked.append(copy.deepcopy(params))

    session.events.register("before-parameter-build", seen)
    config = Config.from_env({"EKSGUARD_AUDIT_TABLE": _audit_table(account), "EKSGUARD_ALERT_TOPIC_ARN":
                              account.app().context.physical["AlertTopic"]["Ref"]})
    read = posture.read_region(Aws(DEMO_REGION, session), DEMO_REGION, config)
    flagged = {f.resource_id for f in posture.findings(read.posture, config, EksConfig())
               if f.rule_id.startswith("SG-")}
    read_for = {g for p in asked for f in p.get("Filters", []) if f["Name"] == "group-id" for g in f["Values"]}
    assert set(open_groups) <= flagged and read_for == flagged
    assert calls["DescribeSecurityGroups"] == 1 + 1  # the region, and the cluster group found by its tag
    # What the findings name comes from DescribeSecurityGroupRules: real rule ids, the exact rules.
    findings = [f for f in posture.findings(read.posture, config, EksConfig()) if f.target_id]
    assert findings and all(f.target_id.startswith("sgr-") for f in findings)


def test_permissions_and_rules_give_the_same_findings(account: Account) -> None:
    """Judging a group on DescribeSecurityGroups' permissions finds what judging it on DescribeSecurityGroupRules
    finds: every kind of source, port ranges, protocols without ports, descriptions, IPv6, egress."""
    ec2 = account.ec2
    group = ec2.create_security_group(GroupName="every-kind", Description="x", VpcId=account.acct.vpc_id)["GroupId"]
    prefix = ec2.create_managed_prefix_list(PrefixListName="office", MaxEntries=2, AddressFamily="IPv4",
                                            Entries=[{"Cidr": "198.51.100.0/24"}])["PrefixList"]["PrefixListId"]
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 20, "ToPort": 25, "IpRanges": [
            {"CidrIp": "0.0.0.0/0", "Description": "ftp and ssh"}, {"CidrIp": "10.0.0.0/8"}],
         "Ipv6Ranges": [{"CidrIpv6": "::/0"}]},
        {"IpProtocol": "icmp", "FromPort": -1, "ToPort": -1, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
        {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "203.0.0.0/8"}]},
        {"IpProtocol": "udp", "FromPort": 53, "ToPort": 53, "PrefixListIds": [{"PrefixListId": prefix}],
         "UserIdGroupPairs": [{"GroupId": account.acct.node_sg}]},
    ])
    ec2.authorize_security_group_egress(GroupId=account.acct.bastion_sg, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 0, "ToPort": 65535, "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}])
    aws = Aws(DEMO_REGION, boto3.session.Session(region_name=DEMO_REGION))
    raw = ec2_api.describe_region_groups(aws, DEMO_REGION)
    clusters = topology.read_topology(aws, DEMO_REGION)
    rules = ec2_api.read_rules(aws.client("ec2", DEMO_REGION), [g["GroupId"] for g in raw])

    def shape(rule: Any) -> tuple[Any, ...]:
        # moto's DescribeSecurityGroupRules drops the description of a rule whose source is a group (AWS keeps
        # it); no rule reads descriptions, so only those of address sources are compared.
        return (rule.group_id, rule.is_egress, rule.protocol, rule.from_port, rule.to_port, rule.source,
                None if rule.referenced_group_id else rule.description)

    for g in raw:
        assert Counter(map(shape, ec2_api.permission_rules(g))) == Counter(map(shape, rules.get(g["GroupId"], [])))
    config = Config(scope=Scope.ALL)
    judged = [SgSnapshot(tuple(ec2_api.build_group(g, rules_of(g), clusters) for g in raw), clusters)
              for rules_of in (ec2_api.permission_rules, lambda g: rules.get(g["GroupId"], []))]
    by_permissions, by_rules = (Counter((f.rule_id, f.resource_id, f.detail) for f in
                                        evaluate(Posture(sg=snap), config, EksConfig())) for snap in judged)
    assert by_permissions == by_rules and ("SG-002", group) in {(r, g) for r, g, _ in by_rules}


# -- events ---------------------------------------------------------------------------------------------------

@pytest.fixture
def mistake(account: Account) -> Iterator[Account]:
    from eksguard.local.demo import SCENARIOS

    SCENARIOS[0].mistake(account.ec2, account.acct)
    account.app(Mode="enforce")
    yield account


def _again(name: str, event_id: str) -> dict[str, Any]:
    event = json.loads((EVENTS / f"{name}.json").read_text())
    event["detail"]["eventID"] = event_id
    return dict(event)


def test_an_event_writes_its_outcome_and_alerted_mark_in_one_write(mistake: Account) -> None:
    with record_calls() as calls:
        result = mistake.invoke("sg-ingress-ssh-world-grouped-node")
    assert result.ok and [a["status"] for a in result.response["actions"]] == ["revoked"]
    (record,) = _remediations(mistake).values()
    assert record["outcome"] == "revoked" and record["alerted"] == "true"
    assert record["before_image"]["CidrIpv4"] == "0.0.0.0/0"
    ddb = Counter(calls.names("dynamodb"))
    # Idempotency (in progress, completed), the before-image, one storm window, one outcome-and-alerted write.
    assert ddb == {"dynamodb.PutItem": 2, "dynamodb.UpdateItem": 3}, ddb


def _warm_calls(account: Account, **overrides: str) -> list[str]:
    """The API calls of a second event on a warm guard (the hook is in place before the container is made)."""
    with record_calls() as calls:
        cold = account.invoke("sg-ingress-referenced-group-control-plane", **overrides)
        first = len(calls.calls)
        warm = account.invoke(_again("sg-ingress-referenced-group-control-plane", "warm-event"), **overrides)
    assert cold.ok and cold.cold and warm.ok and not warm.cold
    assert "eks.ListClusters" in calls.calls[:first]
    return calls.calls[first:]


def test_a_warm_guard_keeps_the_cluster_topology(mistake: Account) -> None:
    warm = _warm_calls(mistake)
    assert [c for c in warm if c.startswith("eks.")] == []
    assert warm.count("ec2.DescribeSecurityGroups") == 1  # the group; not the cluster group found by its tag


def test_topology_cache_seconds_zero_reads_it_on_every_event(mistake: Account) -> None:
    warm = _warm_calls(mistake, TopologyCacheSeconds="0")
    assert "eks.ListClusters" in warm and warm.count("ec2.DescribeSecurityGroups") == 2


def test_a_topology_event_drops_what_the_container_kept(account: Account) -> None:
    aws = Aws(DEMO_REGION, boto3.session.Session(region_name=DEMO_REGION))
    assert [c.name for c in topology.region_clusters(aws, DEMO_REGION, 60)] == ["demo"]
    seed_cluster_posture(account.session, account.acct)  # a second cluster: "legacy"
    assert [c.name for c in topology.region_clusters(aws, DEMO_REGION, 60)] == ["demo"]  # kept
    app = account.app()
    config = Config.from_env({"EKSGUARD_AUDIT_TABLE": app.context.physical["AuditTable"]["Ref"],
                              "EKSGUARD_ALERT_TOPIC_ARN": app.context.physical["AlertTopic"]["Ref"]})
    event = json.loads((EVENTS / "eks-create-cluster-public-no-logging.json").read_text())
    assert cluster_guard.handle(event, config, EksConfig(), aws, clock.now()).status == "processed"
    assert sorted(c.name for c in topology.region_clusters(aws, DEMO_REGION, 60)) == ["demo", "legacy"]


def test_the_sweep_never_answers_from_the_kept_topology(account: Account) -> None:
    aws = Aws(DEMO_REGION, boto3.session.Session(region_name=DEMO_REGION))
    topology.region_clusters(aws, DEMO_REGION, 3600)
    seed_cluster_posture(account.session, account.acct)
    app = account.app()
    config = Config.from_env({"EKSGUARD_AUDIT_TABLE": app.context.physical["AuditTable"]["Ref"],
                              "EKSGUARD_ALERT_TOPIC_ARN": app.context.physical["AlertTopic"]["Ref"]})
    result = sweep.handle(_event("sweep-fresh"), config, EksConfig(), aws, clock.now())
    assert "EK-001" in result.extra["by_rule"]  # the legacy cluster, created after the topology was kept
    assert any(a.resource_id == "legacy" for a in result.actions)
