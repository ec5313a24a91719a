"""The multi-account scan's pure parts: the accounts file, the merge, the rendering, the option rules."""

from __future__ import annotations

import argparse
import io
import json

import pytest

from eksguard.cli.report import render_accounts as render
from eksguard.cli.scan_accounts import AccountsProgress, argument_error
from eksguard.model import Severity
from eksguard.pipeline.org_scan import AccountError, AccountTrail, merge, parse_account_list
from eksguard.pipeline.scan import RegionTrail, ScanFinding, ScanReport

A, B, C = "111111111111", "222222222222", "333333333333"


def finding(account: str, severity: str, rule: str = "SG-001", region: str = "eu-west-1", resource: str = "sg-1",
            exempt: bool = False, detail: str = "detail") -> ScanFinding:
    return ScanFinding(account, region, rule, severity, "title", resource, None, detail, exempt)


def report(account: str, *findings: ScanFinding, trails: tuple[str, ...] = ()) -> ScanReport:
    regions = ("eu-west-1", "us-east-1")
    return ScanReport(account, regions, findings, tuple(RegionTrail(r, trails) for r in regions))


class TestAccountsFile:
    def test_ids_comments_blank_lines_and_duplicates(self) -> None:
        text = f"# prod\n{A}\n\n   {B}   # payments\n\t{A}\n#{C}\n"
        assert parse_account_list(text, "f") == [A, B]

    @pytest.mark.parametrize(("text", "line"), [
        (f"{A}\n12345678901\n", 2), (f"{A}\n1234567890123\n", 2), ("12345678901a\n", 1),
        (f"\n\n{A}, {B}\n", 3), ("arn:aws:iam::111111111111:root\n", 1), ("\uff11" * 12 + "\n", 1),
    ])
    def test_a_bad_line_is_named(self, text: str, line: int) -> None:
        with pytest.raises(ValueError, match=rf"^accounts\.txt line {line}: .* is not a 12-digit AWS account id$"):
            parse_account_list(text, "accounts.txt")

    def test_no_ids(self) -> None:
        with pytest.raises(ValueError, match="no account ids"):
            parse_account_list("# none yet\n\n", "f")


class TestMerge:
    def test_findings_sorted_across_accounts_and_nothing_lost(self) -> None:
        merged = merge([B, A, C], ["eu-west-1", "us-east-1"], [
            report(B, finding(B, "critical", "CT-001"), finding(B, "low")),
            report(A, finding(A, "low", region="us-east-1"), finding(A, "low"), finding(A, "critical", "CT-001")),
        ], [AccountError(C, "AccessDenied", "denied")])
        assert [(f.severity, f.account, f.region) for f in merged.findings] == [
            ("critical", A, "eu-west-1"), ("critical", B, "eu-west-1"),
            ("low", A, "eu-west-1"), ("low", A, "us-east-1"), ("low", B, "eu-west-1")]
        assert merged.accounts == (B, A, C) and merged.scanned == (B, A)
        assert merged.counts() == {"critical": 2, "low": 3}

    def test_trails_and_errors_follow_the_requested_order(self) -> None:
        merged = merge([C, B, A], ["eu-west-1", "us-east-1"], [report(A, trails=("t",)), report(C)],
                       [AccountError(A, "X", "x"), AccountError(B, "Y", "y")])
        assert merged.trails == (AccountTrail(C, "eu-west-1", ()), AccountTrail(C, "us-east-1", ()),
                                 AccountTrail(A, "eu-west-1", ("t",)), AccountTrail(A, "us-east-1", ("t",)))
        assert [e.account for e in merged.errors] == [B, A]

    def test_exempt_findings_neither_count_nor_fail(self) -> None:
        merged = merge([A], ["eu-west-1"], [report(A, finding(A, "critical", exempt=True), finding(A, "low"))], [])
        assert merged.counts() == {"low": 1}
        assert not merged.fails(Severity.HIGH) and merged.fails(Severity.LOW)


class TestRender:
    merged = merge([A, B], ["eu-west-1"], [
        ScanReport(A, ("eu-west-1",), (finding(A, "high", "EK-001", resource="prod", detail="a | b"),
                                       finding(A, "low", exempt=True)), (RegionTrail("eu-west-1", ("main",)),))],
        [AccountError(B, "AccessDenied", "An error occurred (AccessDenied) when calling the AssumeRole operation")])

    def test_json(self) -> None:
        doc = json.loads(render(self.merged, "json"))
        assert list(doc) == ["accounts", "regions", "counts", "cloudtrail", "errors", "findings"]
        assert doc["accounts"] == [A, B] and doc["counts"] == {"high": 1}
        assert doc["cloudtrail"] == {A: {"eu-west-1": ["main"]}}
        assert doc["errors"] == [{"account": B, "code": "AccessDenied", "error": self.merged.errors[0].error}]
        assert [f["account"] for f in doc["findings"]] == [A, A]

    def test_table(self) -> None:
        lines = render(self.merged, "table").splitlines()
        assert lines[0] == "eksguard scan of 2 account(s) (1 scanned, 1 FAILED), eu-west-1: 1 finding(s) (1 high)"
        assert lines[1].startswith(f"FAILED {B}: not scanned, findings unknown (An error occurred (AccessDenied)")
        assert lines[2] == f"CloudTrail {A} eu-west-1: management events logged by main"
        assert lines[4].split() == ["SEVERITY", "RULE", "ACCOUNT", "REGION", "RESOURCE", "DETAIL"]
        assert lines[5].split()[:5] == ["high", "EK-001", A, "eu-west-1", "prod"]
        assert lines[6].split()[:3] == ["low", "(exempt)", "SG-001"]

    def test_markdown(self) -> None:
        md = render(self.merged, "markdown")
        assert md.startswith("## eksguard scan of 2 account(s) (1 scanned, 1 FAILED)")
        assert f"- FAILED {B}: not scanned" in md
        assert f"| high | EK-001 | {A} | eu-west-1 | `prod` | a \\| b |" in md

    def test_nothing_found(self) -> None:
        empty = merge([A], ["eu-west-1"], [ScanReport(A, ("eu-west-1",), ())], [])
        assert render(empty, "table").splitlines()[0] == (
            "eksguard scan of 1 account(s) (1 scanned), eu-west-1: 0 finding(s) (none)")


def ns(**given: object) -> argparse.Namespace:
    base: dict[str, object] = {"accounts": None, "org": False, "role_name": None, "external_id": None,
                               "max_workers": None}
    return argparse.Namespace(**{**base, **given})


@pytest.mark.parametrize(("given", "problem"), [
    ({}, None),
    ({"role_name": "R", "org": True}, None),
    ({"role_name": "R", "accounts": "f", "external_id": "x", "max_workers": 3}, None),
    ({"role_name": "R"}, "--role-name needs --accounts FILE or --org"),
    ({"org": True}, "--org needs --role-name"),
    ({"accounts": "f"}, "--accounts needs --role-name"),
    ({"role_name": "R", "org": True, "accounts": "f"}, "not allowed with"),
    ({"external_id": "x"}, "--external-id applies only with --role-name"),
    ({"max_workers": 2}, "--max-workers applies only with --role-name"),
])
def test_argument_rules(given: dict[str, object], problem: str | None) -> None:
    found = argument_error(ns(**given))
    assert found == problem if problem is None else problem in (found or "")


def test_the_single_account_namespace_is_valid() -> None:
    # Callers that predate the multi-account options pass a Namespace without them.
    assert argument_error(argparse.Namespace(regions=None, format="table", fail_on=None, scope=None)) is None


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_only_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    pipe = io.StringIO()
    quiet = AccountsProgress(pipe, [A, B])
    quiet.step(A, "eu-west-1", "security groups")
    quiet.done()
    assert pipe.getvalue() == ""

    monkeypatch.setenv("COLUMNS", "40")
    tty = Terminal()
    progress = AccountsProgress(tty, [A, B])
    progress.finished(A, ok=False)
    progress.step(B, "eu-west-1", "security groups")
    line = tty.getvalue().removeprefix("\r\x1b[K")
    # Cut to the terminal's width: \r could not clear a line that wrapped.
    assert line == f"[2/2 accounts] {B} eu-west-1: reading security groups... (0 done, 1 failed)"[:39]
    monkeypatch.setenv("COLUMNS", "200")
    progress.step(B, "eu-west-1", "CloudTrail")
    assert tty.getvalue().endswith("reading CloudTrail... (0 done, 1 failed)")
