"""The template's IAM must allow every AWS call each function makes in the tests -- and grant nothing more.

A pytest plugin (tests/conftest.py loads it). For the whole session it switches on the invoke hook of
``eksguard.local.invoke`` (tests/support/call_recorder.py): every AWS call a function makes in a functional
or end-to-end test, in this process or in an ``eksguard local ...`` subprocess, is appended to a per-process
file under one session folder (pytest-xdist workers and their subprocesses inherit it).

- After each test, that test's calls are checked against the function's effective policy, resolved from
  template.yaml for the parameters the test invoked it with (tests/support/effective_policy.py): each call's
  authorization requests (tests/support/iam_requests.py: action, resource ARN, context) must be allowed
  (tests/support/iam_policy.py). A call that is not fails the test, naming the call, the ARN and why.
- At the end of the session (the controller, after every worker), the calls of all tests are counted per
  function and every grant of the template (each action on each resource of each Allow statement, with every
  optional switch on) that no call exercised is reported. When the whole suite ran (``make test``), an
  unexercised grant that ``UNEXERCISED`` does not explain fails the session.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from tests.paths import ROOT, TEMPLATE
from tests.support import call_recorder
from tests.support.effective_policy import RUNTIME_ORIGINS, Role, function_role
from tests.support.iam_policy import Request, Statement, arn_match, evaluate
from tests.support.iam_requests import Scope, UnmappedCall, applicable, requests

from eksguard.local.template import LocalContext

# Grants no test exercises, each with the reason it stays. Keyed (function, Sid, action).
_POWERTOOLS_GET = ("Powertools idempotency reads the record with GetItem only when a conditional PutItem's failure "
                   "carries no item (boto3 before 1.26.164, or the record deleted in between); Powertools documents "
                   "GetItem as required")
UNEXERCISED: dict[tuple[str, str, str], str] = {
    (function, "Idempotency", "dynamodb:GetItem"): _POWERTOOLS_GET
    for function in ("SgGuardFunction", "IrsaGuardFunction", "IrsaRefreshFunction", "ClusterGuardFunction",
                     "SweepFunction", "NotifierFunction", "KubeGuardFunction")
}
# The parameters that switch every optional permission on (the widest policy the template can produce).
WIDEST = {"Mode": "enforce", "DeployIamRules": "always", "EnforceImdsv2": "true", "SecurityHubExport": "true",
          "SlackWebhookSecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:eksguard/slack-AbCdEf",
          "TrustedCidrs": "203.0.113.0/24",
          "CentralEventBusArn": "arn:aws:events:us-east-1:111122223333:event-bus/eksguard-findings",
          "ScanRoleTrustedAccountId": "111122223333"}
DOC_ACCOUNT, DOC_REGION = "123456789012", "us-east-1"

_CHECK_SECONDS = [0.0]


# ---- reading the recorded invocations ---------------------------------------------------------------------

def read_invocations(paths: Iterable[Path]) -> list[dict[str, Any]]:
    out = []
    for path in sorted(paths):
        with path.open(encoding="utf-8") as lines:
            out += [json.loads(line) for line in lines if line.strip()]
    return out


def context_of(invocation: Mapping[str, Any]) -> LocalContext:
    return LocalContext(account_id=invocation["account"], region=invocation["region"],
                        partition=invocation["partition"], parameters=invocation["parameters"],
                        physical=invocation["physical"], stack_name=invocation["stack_name"])


@cache
def _role(template: str, function: str, context_json: str) -> Role:
    raw = json.loads(context_json)
    return function_role(template, context_of(raw), function)


def role_of(invocation: Mapping[str, Any]) -> Role:
    key = json.dumps({k: invocation[k] for k in ("account", "region", "partition", "parameters", "physical",
                                                 "stack_name")}, sort_keys=True)
    return _role(invocation["template"], invocation["function"], key)


# ---- checking ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Violation:
    test: str
    function: str
    call: str
    request: Request | None
    reason: str

    def __str__(self) -> str:
        what = f"{self.request.action} on {self.request.resource}" if self.request else self.call
        context = f" with {dict(self.request.context)}" if self.request and self.request.context else ""
        return f"{self.function}: {self.call} needs {what}{context}: {self.reason}  [{self.test}]"


@dataclass
class Result:
    violations: list[Violation] = field(default_factory=list)
    calls: Counter[tuple[str, str]] = field(default_factory=Counter)  # (function, service.Operation)
    # (function, Sid or origin, action pattern as granted, resource index in the statement)
    exercised: set[tuple[str, str, str, int]] = field(default_factory=set)
    denies_hit: set[tuple[str, str]] = field(default_factory=set)
    unknown_secret_keys: int = 0
    checked: list[tuple[str, Request, bool]] = field(default_factory=list)  # (function, request, allowed)


def check(invocations: Iterable[Mapping[str, Any]]) -> Result:
    result = Result()
    by_test: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for invocation in invocations:
        by_test[invocation["test"]].append(invocation)
    for test, group in by_test.items():
        seen = frozenset(a for inv in group for c in inv["calls"] for a in c.get("arns", []))
        for invocation in group:
            _check_invocation(test, invocation, seen, result)
    return result


def _check_invocation(test: str, invocation: Mapping[str, Any], seen: frozenset[str], result: Result) -> None:
    function = invocation["function"]
    role = role_of(invocation)
    for call in invocation["calls"]:
        name = f"{call['service']}.{call['operation']}"
        result.calls[(function, name)] += 1
        result.unknown_secret_keys += call.get("kms_key_arn") == "unknown"
        scope = Scope(invocation["account"], str(call.get("region") or invocation["region"]),
                      invocation["partition"], seen)
        try:
            needed = requests(call, scope)
        except UnmappedCall as exc:
            result.violations.append(Violation(test, function, name, None, str(exc)))
            continue
        for request in needed:
            decision = evaluate(role.statements, request)
            result.checked.append((function, request, decision.allowed))
            for statement in decision.denied_by:
                result.denies_hit.add((function, statement.sid or statement.origin))
            if decision.allowed:
                _mark(function, request, decision.allowed_by, result.exercised)
                continue
            reason = (f"explicitly denied by {', '.join(s.sid or s.origin for s in decision.denied_by)}"
                      if decision.denied_by else "no statement of its policy allows it")
            result.violations.append(Violation(test, function, name, request, reason))


def _mark(function: str, request: Request, statements: Iterable[Statement], into: set[tuple[str, str, str, int]]
          ) -> None:
    for statement in statements:
        for action in statement.actions:
            if not Statement("Allow", actions=(action,)).matches_action(request.action):
                continue
            for index, resource in enumerate(statement.resources):
                if arn_match(resource, request.resource):
                    into.add((function, statement.sid or statement.origin, action, index))


# ---- the grants of the template --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Grant:
    function: str
    sid: str
    action: str
    resource_index: int
    resource: str  # as resolved for the documentation context
    runtime: bool  # added by SAM for Lambda itself (logs, X-Ray, destinations): no handler call uses it


def doc_context(parameters: Mapping[str, str] | None = None) -> LocalContext:
    """A deployed-looking context: every resource's Ref/Arn as CloudFormation would give them."""
    from eksguard.local.template import load_template

    template = load_template(TEMPLATE)
    physical: dict[str, dict[str, str]] = {}
    for lid, resource in template["Resources"].items():
        kind = resource["Type"]
        arn = {
            "AWS::DynamoDB::Table": f"arn:aws:dynamodb:{DOC_REGION}:{DOC_ACCOUNT}:table/{lid}",
            "AWS::SNS::Topic": f"arn:aws:sns:{DOC_REGION}:{DOC_ACCOUNT}:{lid}",
            "AWS::SQS::Queue": f"arn:aws:sqs:{DOC_REGION}:{DOC_ACCOUNT}:{lid}",
            "AWS::Events::EventBus": f"arn:aws:events:{DOC_REGION}:{DOC_ACCOUNT}:event-bus/{lid}",
        }.get(kind, f"arn:aws:cloudformation:{DOC_REGION}:{DOC_ACCOUNT}:{lid}")
        ref = arn if kind == "AWS::SNS::Topic" else lid
        physical[lid] = {"Ref": ref, "Arn": arn, "QueueName": lid, "TopicName": lid, "Name": lid}
    return LocalContext(account_id=DOC_ACCOUNT, region=DOC_REGION, parameters=dict(parameters or WIDEST),
                        physical=physical, stack_name="eksguard")


def functions() -> list[str]:
    from eksguard.local.template import load_template

    template = load_template(TEMPLATE)
    return sorted(k for k, v in template["Resources"].items() if v["Type"] == "AWS::Serverless::Function")


def grants() -> list[Grant]:
    ctx = doc_context()
    out = []
    for function in functions():
        for statement in function_role(TEMPLATE, ctx, function).statements:
            if statement.effect != "Allow":
                continue
            runtime = statement.origin.startswith(RUNTIME_ORIGINS)
            for action in statement.actions:
                for index, resource in enumerate(statement.resources):
                    if applicable(action, resource):  # DescribeCluster on nodegroup/* grants nothing
                        out.append(Grant(function, statement.sid or statement.origin, action, index, resource,
                                         runtime))
    return out


def unexercised(result: Result) -> list[Grant]:
    return [g for g in grants() if not g.runtime
            and (g.function, g.sid, g.action, g.resource_index) not in result.exercised]


# ---- the report ---------------------------------------------------------------------------------------------------

def report(result: Result, strict: bool) -> list[str]:
    lines = ["AWS calls per function (every call allowed by the function's template policy unless listed below):"]
    per_function: dict[str, Counter[str]] = defaultdict(Counter)
    for (function, call), count in result.calls.items():
        per_function[function][call] = count
    for function in sorted(per_function):
        calls = per_function[function]
        lines.append(f"  {function}: {sum(calls.values())} calls, {len(calls)} operations: "
                     + ", ".join(f"{c} x{n}" for c, n in sorted(calls.items())))
    for violation in result.violations:
        lines.append(f"  NOT ALLOWED  {violation}")
    missing = unexercised(result)
    explained = [g for g in missing if (g.function, g.sid, g.action) in UNEXERCISED]
    unexplained = [g for g in missing if (g.function, g.sid, g.action) not in UNEXERCISED]
    lines.append(f"Granted but exercised by no call: {len(unexplained)} unexplained, {len(explained)} explained"
                 + ("" if strict else " (partial run: informational)"))
    for g in unexplained:
        lines.append(f"  UNEXERCISED  {g.function} {g.sid}: {g.action} on {g.resource}")
    for g in explained:
        lines.append(f"  explained    {g.function} {g.sid}: {g.action} on {g.resource} -- "
                     f"{UNEXERCISED[(g.function, g.sid, g.action)]}")
    if result.unknown_secret_keys:
        lines.append(f"  {result.unknown_secret_keys} GetSecretValue calls against a moto server: their secret's "
                     "KMS key is not visible (kms:Decrypt not derived for them)")
    lines.append(f"Permission check time: {_CHECK_SECONDS[0]:.2f} s (every process, after each test and at the end)")
    return lines


# ---- the pytest plugin --------------------------------------------------------------------------------------------

def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--permissions-report", metavar="PATH", default=None,
                     help="write the permission check's session report (calls per function, unexercised grants)")


def pytest_configure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):  # the controller (or the only process): one folder for everyone
        folder = tempfile.mkdtemp(prefix="eksguard-calls-")
        os.environ[call_recorder.ENV_DIR] = folder
        os.environ[call_recorder.ENV_HOOK] = call_recorder.HOOK
        config.stash[_FOLDER] = Path(folder)
    call_recorder.register()


_FOLDER = pytest.StashKey[Path]()


def _test_logs(nodeid: str) -> list[Path]:
    folder = os.environ.get(call_recorder.ENV_DIR)
    return sorted(Path(folder).glob(f"{call_recorder.log_name(nodeid)}-*.jsonl")) if folder else []


def this_test() -> Result:
    """The check of the calls the running test's functions made so far (for tests that assert on it)."""
    test = call_recorder.test_id()
    logs = _test_logs(test)
    assert logs, f"no function call was recorded for {test}: is the invoke hook on?"
    return check(read_invocations(logs))


def unexercised_in(result: Result, function: str, actions: str = "") -> list[Grant]:
    """``function``'s grants (those whose action starts with ``actions``) that no checked call used."""
    return [g for g in grants() if g.function == function and not g.runtime and g.action.startswith(actions)
            and (g.function, g.sid, g.action, g.resource_index) not in result.exercised]


@pytest.fixture(autouse=True)
def _aws_calls_within_template_permissions(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fails the test when a function made an AWS call its template policy does not allow."""
    yield
    started = time.perf_counter()
    try:
        logs = _test_logs(request.node.nodeid)
        if not logs:
            return
        result = check(read_invocations(logs))
    finally:
        _CHECK_SECONDS[0] += time.perf_counter() - started
    if result.violations:
        pytest.fail("AWS calls the template's IAM does not allow (tests/support/permissions_check.py):\n"
                    + "\n".join(f"  {v}" for v in result.violations), pytrace=False)


def _whole_suite(session: pytest.Session) -> bool:
    """Coverage of the grants is judged only when every functional and end-to-end test ran."""
    config = session.config
    args = [(config.invocation_params.dir / a.split("::", 1)[0]).resolve() for a in config.args]
    everything = {ROOT, ROOT / "tests"}
    narrowed = [getattr(config.option, name, None) for name in ("keyword", "markexpr", "lf", "deselect")]
    return all(a in everything for a in args) and not any(narrowed) and session.testsfailed == 0


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    folder = session.config.stash.get(_FOLDER, None)
    if folder is None:  # an xdist worker: the controller reports; it adds up the workers' check time
        shared = os.environ.get(call_recorder.ENV_DIR)
        if shared and Path(shared).is_dir():
            (Path(shared) / f"check-seconds-{os.getpid()}.txt").write_text(str(_CHECK_SECONDS[0]))
        return
    started = time.perf_counter()
    invocations = read_invocations(folder.glob("*.jsonl"))
    _CHECK_SECONDS[0] += sum(float(p.read_text()) for p in folder.glob("check-seconds-*.txt"))
    shutil.rmtree(folder, ignore_errors=True)
    if not invocations:
        return
    result = check(invocations)
    _CHECK_SECONDS[0] += time.perf_counter() - started
    strict = _whole_suite(session)
    lines = report(result, strict)
    session.config.stash[_REPORT] = lines
    path = session.config.getoption("--permissions-report")
    if path:
        Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")
    failed = result.violations or (strict and [g for g in unexercised(result)
                                              if (g.function, g.sid, g.action) not in UNEXERCISED])
    if failed and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


_REPORT = pytest.StashKey[list[str]]()


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    lines = config.stash.get(_REPORT, None)
    if lines:
        terminalreporter.section("eksguard permissions")
        for line in lines:
            terminalreporter.write_line(line)
