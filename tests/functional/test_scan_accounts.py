"""`eksguard scan --role-name R --accounts FILE | --org` in-process on moto, with real multi-account state:
moto maps the credentials sts:AssumeRole returns for ``arn:aws:iam::ACCOUNT:role/R`` to that ACCOUNT's backends.

Every call of every session is seen on the wire: sessions the product creates itself get botocore's
BUILTIN_HANDLERS (that is how moto reaches them too), so the test adds its recorder there."""

from __future__ import annotations

import argparse
import io
import json
import re
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import botocore.handlers
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from tests.unit.test_template_org import scan_role_actions

from eksguard.aws import clients
from eksguard.cli import scan as scan_cli
from eksguard.cli.main import main
from eksguard.local.seed import DEMO_REGION, seed_cluster_posture, seed_demo
from eksguard.local.standin import apply_moto_patches
from eksguard.model import Severity

ROLE = "EksguardScan"
READ_PREFIXES = ("Describe", "List", "Get", "LookupEvents")


@dataclass
class Wire:
    """Every call made while it is installed: (account whose credentials signed it, service, operation), and
    refusals to inject for one account's operation, as an SCP or a missing permission would."""

    calls: list[tuple[str, str, str]] = field(default_factory=list)
    deny: dict[tuple[str, str], str] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)  # access key id -> account
    local: threading.local = field(default_factory=threading.local)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def handlers(self) -> list[tuple[str, Any]]:
        return [("before-call", self.before_call), ("before-send", self.before_send), ("after-call", self.after_call)]

    def before_call(self, model: Any, **_: Any) -> None:
        self.local.op = (model.service_model.service_name, model.name)  # before-send follows in this thread

    def before_send(self, request: Any, **_: Any) -> None:
        auth = request.headers.get("Authorization", b"")
        key = re.search(r"Credential=([^/]+)/", auth.decode() if isinstance(auth, bytes) else auth)
        account = self.keys.get(key[1] if key else "", "?")
        service, op = self.local.op
        with self.lock:
            self.calls.append((account, service, op))
        if code := self.deny.get((account, op)):
            raise ClientError({"Error": {"Code": code, "Message": f"{op} denied in {account}"}}, op)

    def after_call(self, model: Any, parsed: dict[str, Any], **_: Any) -> None:
        if model.name == "AssumeRole" and "Credentials" in parsed:
            account = parsed["AssumedRoleUser"]["Arn"].split(":")[4]
            with self.lock:
                self.keys[parsed["Credentials"]["AccessKeyId"]] = account

    def ops(self, account: str | None = None) -> Counter[str]:
        return Counter(op for a, _, op in self.calls if account is None or a == account)


@dataclass
class Caller:
    """The caller's session (the organization's management account), its wire, a folder for account files."""

    session: boto3.session.Session
    wire: Wire
    tmp: Path

    def accounts_file(self, text: str) -> str:
        path = self.tmp / "accounts.txt"
        path.write_text(text)
        return str(path)


@dataclass
class Org(Caller):
    """An organization: the management account (the caller) and three members, seeded differently."""

    rich: str = ""  # the demo cluster plus the legacy cluster's posture
    demo: str = ""  # the demo cluster only
    clean: str = ""  # nothing but a logging multi-region trail: no finding at all
    management: str = ""

    @property
    def members(self) -> list[str]:
        return [self.rich, self.demo, self.clean]

    def session_in(self, account: str) -> boto3.session.Session:
        creds = self.session.client("sts").assume_role(
            RoleArn=f"arn:aws:iam::{account}:role/test-seeder", RoleSessionName="seed")["Credentials"]
        return boto3.session.Session(aws_access_key_id=creds["AccessKeyId"],
                                     aws_secret_access_key=creds["SecretAccessKey"],
                                     aws_session_token=creds["SessionToken"], region_name=DEMO_REGION)


@pytest.fixture
def caller(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Caller]:
    apply_moto_patches()
    wire = Wire()
    monkeypatch.setattr(botocore.handlers, "BUILTIN_HANDLERS", [*wire.handlers(), *botocore.handlers.BUILTIN_HANDLERS])
    with mock_aws():
        clients.reset()
        session = boto3.session.Session(region_name=DEMO_REGION)
        # mock_aws puts its own fake keys in the environment; they sign as moto's default account.
        wire.keys[session.get_credentials().access_key] = session.client("sts").get_caller_identity()["Account"]
        wire.calls.clear()
        yield Caller(session, wire, tmp_path)
        clients.reset()


@pytest.fixture
def org(caller: Caller) -> Org:
    organizations = caller.session.client("organizations")
    management = organizations.create_organization(FeatureSet="ALL")["Organization"]["MasterAccountId"]
    rich, demo, clean = (organizations.create_account(Email=f"{n}@example.com", AccountName=n)
                         ["CreateAccountStatus"]["AccountId"] for n in ("rich", "demo", "clean"))
    world = Org(caller.session, caller.wire, caller.tmp, rich, demo, clean, management)
    for account in (rich, demo):
        seeded = world.session_in(account)
        acct = seed_demo(seeded)
        if account == rich:
            seed_cluster_posture(seeded, acct)
    quiet = world.session_in(clean)
    quiet.client("s3").create_bucket(Bucket=f"trail-{clean}",
                                     CreateBucketConfiguration={"LocationConstraint": DEMO_REGION})
    quiet.client("cloudtrail").create_trail(Name="org-trail", S3BucketName=f"trail-{clean}", IsMultiRegionTrail=True)
    quiet.client("cloudtrail").start_logging(Name="org-trail")
    world.wire.calls.clear()
    return world


def _args(*argv: str) -> argparse.Namespace:
    """Parsed by the command's own parser and checks, as ``eksguard scan ...`` would be."""
    parser = argparse.ArgumentParser(prog="eksguard")
    scan = scan_cli.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["scan", *argv])
    scan_cli.check_arguments(scan, args)
    return args


def _run(session: boto3.session.Session, *argv: str, err: io.StringIO | None = None,
         region: str = DEMO_REGION) -> tuple[int, str, str]:
    out, err = io.StringIO(), err or io.StringIO()
    # Not about the K8 family (test_k8s_family.py): no Kubernetes API stand-in here, so it is left out explicitly.
    code = scan_cli.run(_args("--region", region, "--no-kubernetes", *argv), out, err, session=session)
    return code, out.getvalue(), err.getvalue()


def _single(org: Org, account: str) -> dict[str, Any]:
    """What the existing single-account scan finds in ``account``, run on that account's own credentials."""
    code, out, _ = _run(org.session_in(account), "--format", "json")
    assert code == 0
    report: dict[str, Any] = json.loads(out)
    assert report["account"] == account
    return report


def _order(f: dict[str, Any]) -> tuple[Any, ...]:
    return (-Severity.parse(f["severity"]), f["account"], f["region"], f["rule_id"], f["resource_id"],
            f["target_id"] or "")


def test_accounts_file_merges_every_account_without_loss_or_mixing(org: Org) -> None:
    path = org.accounts_file(f"# production\n{org.rich}\n\n  {org.demo}  # payments\n{org.clean}\n{org.rich}\n")
    code, out, err = _run(org.session, "--format", "json", "--role-name", ROLE, "--accounts", path)
    assert (code, err) == (0, "")  # no --fail-on; not a terminal, so no progress either
    report = json.loads(out)
    assert report["accounts"] == org.members and report["regions"] == [DEMO_REGION] and report["errors"] == []
    scans = org.wire.calls[:]
    singles = {a: _single(org, a) for a in org.members}
    for account, single in singles.items():
        # Same findings, same order, nothing dropped or borrowed from another account.
        assert [f for f in report["findings"] if f["account"] == account] == single["findings"]
        assert report["cloudtrail"][account] == single["cloudtrail"]
    assert report["findings"] == sorted(report["findings"], key=_order)
    total: Counter[str] = Counter()
    for single in singles.values():
        total.update(single["counts"])
    assert report["counts"] == dict(total)
    # Both demo accounts have a cluster named demo: each account's finding on it is kept.
    assert {f["account"] for f in report["findings"] if (f["rule_id"], f["resource_id"]) == ("EK-001", "demo")} == {
        org.rich, org.demo}
    assert len(singles[org.rich]["findings"]) > len(singles[org.demo]["findings"])
    assert singles[org.clean]["findings"] == [] and report["cloudtrail"][org.clean] == {DEMO_REGION: ["org-trail"]}

    # Read-only: reads in the members, AssumeRole (once per member) and GetCallerIdentity from the caller.
    writes = sorted({op for _, _, op in scans if not op.startswith(READ_PREFIXES)})
    assert writes == ["AssumeRole"]
    assert [a for a, _, op in scans if op == "AssumeRole"] == [org.management] * 3
    assert {op for a, _, op in scans if a == org.management} == {"GetCallerIdentity", "AssumeRole"}
    for account in org.members:  # each member read on its own credentials
        ops = {op for a, _, op in scans if a == account}
        assert {"GetCallerIdentity", "DescribeSecurityGroups", "ListClusters", "DescribeLaunchTemplates",
                "DescribeTrails"} <= ops
        # Rules are read (for their ids) only for the groups with a finding: none in the clean account.
        flagged = any(f["rule_id"].startswith("SG-") for f in singles[account]["findings"])
        assert ("DescribeSecurityGroupRules" in ops) is flagged
    assert {a for a, _, _ in scans} == {org.management, *org.members}
    # The member stacks' scan role (ScanRoleTrustedAccountId) allows every call the scan made there.
    member_reads = {op for a, _, op in scans if a in org.members} - {"GetCallerIdentity"}
    assert member_reads <= {action.split(":", 1)[1] for action in scan_role_actions()}


def test_org_scans_every_active_account_across_pages(org: Org) -> None:
    organizations = org.session.client("organizations")
    suspended = organizations.create_account(Email="gone@example.com", AccountName="gone")[
        "CreateAccountStatus"]["AccountId"]
    organizations.close_account(AccountId=suspended)

    def one_per_page(params: dict[str, Any], **_: Any) -> None:
        params["MaxResults"] = 1  # so the paginator has to follow NextToken (AWS pages at 20 at most)

    org.session.events.register("provide-client-params.organizations.ListAccounts", one_per_page)
    code, out, err = _run(org.session, "--format", "json", "--role-name", ROLE, "--org", "--max-workers", "2")
    assert err == ""
    report = json.loads(out)
    assert code == 0 and report["errors"] == []
    assert report["accounts"] == [org.management, *org.members]  # the management account is a member too
    assert org.wire.ops(org.management)["ListAccounts"] >= 5
    assert {f["account"] for f in report["findings"]} == {org.management, org.rich, org.demo}
    # The empty management account: only its missing trail.
    assert [f["rule_id"] for f in report["findings"] if f["account"] == org.management] == ["CT-001"]


def test_org_reads_state_when_status_is_retired(org: Org) -> None:
    """ListAccounts' Status is retired on 2026-09-09 in favour of State (moto 5.2.5 still sends both)."""
    organizations = org.session.client("organizations")
    suspended = organizations.create_account(Email="gone@example.com", AccountName="gone")[
        "CreateAccountStatus"]["AccountId"]
    organizations.close_account(AccountId=suspended)

    def state_only(parsed: dict[str, Any], **_: Any) -> None:
        for account in parsed.get("Accounts", []):
            account["State"] = account.pop("Status")

    org.session.events.register("after-call.organizations.ListAccounts", state_only)
    code, out, _ = _run(org.session, "--format", "json", "--role-name", ROLE, "--org")
    assert code == 0 and json.loads(out)["accounts"] == [org.management, *org.members]


def test_an_account_that_cannot_be_assumed_or_read_fails_the_scan(org: Org) -> None:
    denied_role = f"arn:aws:iam::{org.demo}:role/{ROLE}"

    def refuse(params: dict[str, Any], **_: Any) -> None:
        if params["RoleArn"] == denied_role:
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "not authorized to perform: "
                                         "sts:AssumeRole"}}, "AssumeRole")

    org.session.events.register("provide-client-params.sts.AssumeRole", refuse)
    org.wire.deny[(org.clean, "DescribeSecurityGroups")] = "UnauthorizedOperation"
    path = org.accounts_file(f"{org.rich}\n{org.demo}\n{org.clean}\n")
    code, out, err = _run(org.session, "--format", "json", "--role-name", ROLE, "--accounts", path,
                          "--fail-on", "critical")
    assert code == 2
    report = json.loads(out)
    assert [(e["account"], e["code"]) for e in report["errors"]] == [(org.demo, "AccessDenied"),
                                                                     (org.clean, "UnauthorizedOperation")]
    assert "AssumeRole" in report["errors"][0]["error"] and "DescribeSecurityGroups" in report["errors"][1]["error"]
    # The readable account is still reported in full; the failed ones contribute nothing, not "clean".
    assert {f["account"] for f in report["findings"]} == {org.rich}
    assert list(report["cloudtrail"]) == [org.rich]
    assert err.count("was not scanned") == 2 and org.demo in err and org.clean in err

    code, table, _ = _run(org.session, "--role-name", ROLE, "--accounts", path)
    assert code == 2
    lines = table.splitlines()
    assert lines[0].startswith(f"eksguard scan of 3 account(s) (1 scanned, 2 FAILED), {DEMO_REGION}:")
    assert any(line.startswith(f"FAILED {org.demo}: not scanned") and "AccessDenied" in line for line in lines)
    code, md, _ = _run(org.session, "--role-name", ROLE, "--accounts", path, "--format", "markdown")
    assert code == 2 and f"- FAILED {org.clean}: not scanned" in md


def test_table_and_markdown_name_the_account(org: Org) -> None:
    path = org.accounts_file(f"{org.rich}\n{org.clean}\n")
    code, table, _ = _run(org.session, "--role-name", ROLE, "--accounts", path)
    assert code == 0
    lines = table.splitlines()
    assert lines[0].startswith(f"eksguard scan of 2 account(s) (2 scanned), {DEMO_REGION}:")
    assert f"CloudTrail {org.clean} {DEMO_REGION}: management events logged by org-trail" in lines
    assert f"CloudTrail {org.rich} {DEMO_REGION}: NO trail logs management events (CT-001)" in lines
    header = next(line for line in lines if line.startswith("SEVERITY"))
    assert header.split() == ["SEVERITY", "RULE", "ACCOUNT", "REGION", "RESOURCE", "DETAIL"]
    assert any(line.split()[:4] == ["critical", "CT-001", org.rich, DEMO_REGION] for line in lines)
    _, md, _ = _run(org.session, "--role-name", ROLE, "--accounts", path, "--format", "markdown")
    assert "| severity | rule | account | region | resource | detail |" in md
    assert f"| high | EK-001 | {org.rich} | {DEMO_REGION} | `legacy` |" in md


def test_fail_on_applies_to_the_merged_findings(org: Org) -> None:
    both, clean = org.accounts_file(f"{org.clean}\n{org.rich}\n"), str(org.tmp / "clean.txt")
    Path(clean).write_text(f"{org.clean}\n")
    assert _run(org.session, "--role-name", ROLE, "--accounts", clean, "--fail-on", "info")[0] == 0
    assert _run(org.session, "--role-name", ROLE, "--accounts", both, "--fail-on", "critical")[0] == 1


@pytest.mark.parametrize(("region", "partition"), [(DEMO_REGION, "aws"), ("cn-north-1", "aws-cn")])
def test_assume_role_request(caller: Caller, region: str, partition: str) -> None:
    session = boto3.session.Session(region_name=region)
    seen: list[dict[str, Any]] = []
    session.events.register("provide-client-params.sts.AssumeRole", lambda params, **_: seen.append(dict(params)))
    path = caller.accounts_file("210987654321\n")
    code, out, _ = _run(session, "--role-name", ROLE, "--accounts", path, "--external-id", "ext-42",
                        "--format", "json", region=region)
    assert code == 0
    # The role ARN is in the caller's partition.
    assert seen == [{"RoleArn": f"arn:{partition}:iam::210987654321:role/{ROLE}", "RoleSessionName": "eksguard-scan",
                     "ExternalId": "ext-42"}]
    assert {f["account"] for f in json.loads(out)["findings"]} == {"210987654321"}


def test_result_does_not_depend_on_concurrency(org: Org) -> None:
    path = org.accounts_file("\n".join(org.members))
    outputs = {_run(org.session, "--format", "json", "--role-name", ROLE, "--accounts", path, "--max-workers", n)[1]
               for n in ("1", "3", "64")}
    assert len(outputs) == 1


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_on_a_terminal(org: Org, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    path = org.accounts_file(f"{org.rich}\n{org.clean}\n")
    code, _, err = _run(org.session, "--role-name", ROLE, "--accounts", path, "--max-workers", "1", err=Terminal())
    assert code == 0
    assert f"[1/2 accounts] {org.rich} {DEMO_REGION}: reading security groups... (0 done, 0 failed)" in err
    assert f"[2/2 accounts] {org.clean} {DEMO_REGION}: reading CloudTrail... (1 done, 0 failed)" in err
    assert err.endswith("\r\x1b[K")  # the status line is cleared before the report


@pytest.mark.parametrize(("text", "message"), [
    ("111111111111\n# fine\n\n12345678901\n", "line 4: '12345678901' is not a 12-digit AWS account id"),
    ("111111111111\narn:aws:iam::222222222222:root\n", "line 2: 'arn:aws:iam::222222222222:root'"),
    ("1111 1111 1111\n", "line 1:"),
    ("# nobody\n\n", "no account ids"),
])
def test_bad_accounts_file_is_refused_before_any_aws_call(caller: Caller, text: str, message: str) -> None:
    code, out, err = _run(caller.session, "--role-name", ROLE, "--accounts", caller.accounts_file(text))
    assert (code, out) == (2, "") and message in err and "accounts.txt" in err
    assert caller.wire.calls == []


def test_missing_accounts_file(caller: Caller) -> None:
    code, _, err = _run(caller.session, "--role-name", ROLE, "--accounts", str(caller.tmp / "nope.txt"))
    assert code == 2 and "nope.txt" in err and caller.wire.calls == []


def test_org_when_the_accounts_cannot_be_listed(org: Org) -> None:
    org.wire.deny[(org.management, "ListAccounts")] = "AccessDeniedException"  # e.g. not the management account
    code, out, err = _run(org.session, "--role-name", ROLE, "--org")
    assert (code, out) == (2, "") and "could not list the organization's accounts" in err
    assert "AccessDeniedException" in err
    assert "AssumeRole" not in org.wire.ops()


@pytest.mark.parametrize(("argv", "message"), [
    (["--role-name", ROLE], "--role-name needs --accounts FILE or --org"),
    (["--accounts", "a.txt"], "--accounts needs --role-name"),
    (["--org"], "--org needs --role-name"),
    (["--role-name", ROLE, "--org", "--accounts", "a.txt"], "not allowed with argument"),
    (["--role-name", ROLE, "--org", "--max-workers", "0"], "from 1 to 64"),
    (["--role-name", ROLE, "--org", "--max-workers", "65"], "from 1 to 64"),
    (["--role-name", ROLE, "--org", "--max-workers", "many"], "from 1 to 64"),
    (["--external-id", "x"], "--external-id applies only with --role-name"),
    (["--max-workers", "4"], "--max-workers applies only with --role-name"),
])
def test_argument_validation(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["scan", *argv])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "usage: eksguard scan" in err and message in err


def test_run_refuses_inconsistent_options_from_any_caller(caller: Caller) -> None:
    args = argparse.Namespace(regions=[DEMO_REGION], format="table", fail_on=None, scope=None, role_name=ROLE,
                              accounts=None, org=False, external_id=None, max_workers=None)
    err = io.StringIO()
    assert scan_cli.run(args, io.StringIO(), err, session=caller.session) == 2
    assert "--role-name needs --accounts FILE or --org" in err.getvalue() and caller.wire.calls == []
