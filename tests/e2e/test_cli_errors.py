"""Bad input to the `eksguard` console script: one clear line, exit 2, never a traceback (docs/cli.md lists each
case; a test below keeps the table and these cases together)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.e2e.conftest import Cli
from tests.paths import EVENTS, ROOT

from eksguard.local.seed import DEMO_REGION, DemoAccount

EKSGUARD = str(Path(sys.executable).parent / "eksguard")  # the console script the README installs
EVENT = "events/sg-ingress-kubelet-ipv6-world-node.json"
NO_ENDPOINT = "http://127.0.0.1:9"  # discard port: nothing answers, and no case below may get that far


@dataclass(frozen=True)
class Case:
    name: str
    args: tuple[str, ...]
    message: str  # the line printed (a fragment of it), also quoted in docs/cli.md
    stdin: str | None = None
    env: tuple[tuple[str, str], ...] = ()


CASES = (
    Case("missing event file", ("local", "invoke", "SgGuardFunction", "-e", "missing.json"),
         "event file missing.json: no such file"),
    Case("event file is a directory", ("local", "invoke", "SgGuardFunction", "-e", "events"),
         "event file events is a directory"),
    Case("invalid JSON", ("local", "invoke", "SgGuardFunction", "-e", "-"), "standard input is not valid JSON",
         stdin="{not json"),
    *(Case(f"event is a JSON {kind}", ("local", "replay", "-"), f"an event must be a JSON object, got {kind}",
           stdin=text) for kind, text in (("list", "[1]"), ("null", "null"), ("str", '"x"'), ("int", "7"))),
    Case("unknown function id", ("local", "invoke", "NoSuchFunction", "-e", EVENT),
         "NoSuchFunction is not a function of template.yaml"),
    Case("unknown parameter override", ("local", "invoke", "SgGuardFunction", "-e", EVENT,
                                        "--parameter-overrides", "Mood=enforce"),
         "parameter overrides not in the template: Mood"),
    Case("value outside AllowedValues", ("local", "replay", "--parameter-overrides", "Mode=bogus", EVENT),
         "parameter Mode='bogus': must be one of audit, enforce"),
    Case("value outside AllowedPattern", ("local", "invoke", "SgGuardFunction", "-e", EVENT,
                                          "--parameter-overrides", "ParameterKey=ProtectedPorts,ParameterValue=ssh"),
         "parameter ProtectedPorts='ssh': does not match the template's AllowedPattern"),
    Case("number out of range", ("local", "invoke", "SgGuardFunction", "-e", EVENT,
                                 "--parameter-overrides", "MaxPublicPrefix=33"),
         "parameter MaxPublicPrefix='33': must be at most 32"),
    Case("malformed override", ("local", "invoke", "SgGuardFunction", "-e", EVENT, "--parameter-overrides",
                                "Mode=enforce", "ParameterKey=Mode"),
         "--parameter-overrides expects KEY=VALUE or ParameterKey=K,ParameterValue=V"),
    Case("local command without the stand-in", ("local", "invoke", "SgGuardFunction", "-e", EVENT),
         "AWS_ENDPOINT_URL is not set", env=(("AWS_ENDPOINT_URL", ""),)),
    Case("not a region name", ("scan", "--region", "nowhere-1"), "'nowhere-1' is not an AWS region name"),
    Case("no credentials (history)", ("history", "--audit-table", "t"), "no AWS credentials",
         env=(("AWS_ACCESS_KEY_ID", ""), ("AWS_SECRET_ACCESS_KEY", ""), ("AWS_SESSION_TOKEN", ""),
              ("AWS_ENDPOINT_URL", ""), ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent"),
              ("AWS_CONFIG_FILE", "/nonexistent"), ("AWS_EC2_METADATA_DISABLED", "true"))),
    Case("no credentials (rollback)", ("rollback", "r-1", "--audit-table", "t", "--alert-topic-arn", "a"),
         "no AWS credentials",
         env=(("AWS_ACCESS_KEY_ID", ""), ("AWS_SECRET_ACCESS_KEY", ""), ("AWS_SESSION_TOKEN", ""),
              ("AWS_ENDPOINT_URL", ""), ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent"),
              ("AWS_CONFIG_FILE", "/nonexistent"), ("AWS_EC2_METADATA_DISABLED", "true"))),
    Case("unreachable endpoint", ("history", "--audit-table", "t"), f"cannot reach {NO_ENDPOINT}"),
)


def run(*args: str, stdin: str | None = None, env: dict[str, str] | None = None,
        timeout: int = 60) -> subprocess.CompletedProcess[str]:
    base = {**os.environ, "AWS_ENDPOINT_URL": NO_ENDPOINT, "AWS_DEFAULT_REGION": DEMO_REGION,
            "AWS_MAX_ATTEMPTS": "1", **(env or {})}
    base = {k: v for k, v in base.items() if v != ""}
    return subprocess.run([EKSGUARD, *args], cwd=ROOT, env=base, input=stdin, capture_output=True, text=True,
                          timeout=timeout, check=False)


def assert_one_line_error(result: subprocess.CompletedProcess[str], message: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("eksguard"), result.stderr
    assert message in lines[0], lines[0]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_bad_input_is_one_line_and_exit_2(case: Case) -> None:
    assert_one_line_error(run(*case.args, stdin=case.stdin, env=dict(case.env)), case.message)


def test_debug_shows_the_traceback() -> None:
    for flags, env in ((("--debug",), {}), ((), {"EKSGUARD_DEBUG": "1"})):
        result = run(*flags, "local", "invoke", "SgGuardFunction", "-e", "missing.json", env=env)
        assert result.returncode != 0 and "Traceback" in result.stderr


def test_docs_list_every_case() -> None:
    table = (ROOT / "docs" / "cli.md").read_text()
    for case in CASES:
        assert case.message in table, f"docs/cli.md does not list: {case.name} ({case.message})"


@pytest.fixture
def listening() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_local_up_on_a_busy_port_exits_at_once(listening: int) -> None:
    result = run("local", "up", "--port", str(listening), "--seed", "none", timeout=30)
    assert_one_line_error(result, f"port {listening} on 127.0.0.1 is in use")


def test_a_closed_pipe_is_one_line(cli: Cli) -> None:
    """`eksguard local provision | head -0`: the reader is gone before the JSON is written."""
    proc = subprocess.Popen([EKSGUARD, "local", "provision"], cwd=ROOT, env=cli.env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    stderr = proc.stderr.read()
    assert proc.wait(timeout=60) == 2
    assert "Traceback" not in stderr and stderr.strip().splitlines() == [
        "eksguard: the output was closed before it was all written (a pipe such as | head); nothing else went wrong"]


def test_scan_of_an_unknown_region_against_the_stand_in(cli: Cli) -> None:
    result = subprocess.run([EKSGUARD, "scan", "--region", "nowhere-1"], cwd=ROOT, env=cli.env,
                            capture_output=True, text=True, timeout=60, check=False)
    assert_one_line_error(result, "'nowhere-1' is not an AWS region name")


def _ingress(cli: Cli, group: str) -> set[tuple[int, str]]:
    rules = cli.client("ec2").describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group]}])
    return {(r["FromPort"], r.get("CidrIpv4") or r.get("CidrIpv6") or "sg") for r in rules["SecurityGroupRules"]
            if not r["IsEgress"]}


def test_overrides_do_not_swallow_event_files_and_a_new_mode_is_not_a_cached_answer(
        cli: Cli, demo: DemoAccount) -> None:
    """`replay` in audit mode, then the same file with Mode=enforce (SAM's long form), the files after the option."""
    cli.client("ec2").authorize_security_group_ingress(
        GroupId=demo.node_sg, IpPermissions=[{"IpProtocol": "tcp", "FromPort": 10250, "ToPort": 10250,
                                              "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}])
    audit = cli("local", "replay", "--json", EVENT)
    assert audit.returncode == 0, audit.stderr
    (delivery,) = json.loads(audit.stdout)["deliveries"]
    assert [a["action"] for a in delivery["response"]["actions"]] == ["alert-only"]
    again = cli("local", "replay", "--json", EVENT)
    assert json.loads(again.stdout)["deliveries"][0]["response"] == delivery["response"]  # same config: cached
    enforce = cli("local", "replay", "--json", "--parameter-overrides", "ParameterKey=Mode,ParameterValue=enforce",
                  EVENT, str(EVENTS / "sg-ingress-lb-8080-world.json"))
    assert enforce.returncode == 0, enforce.stderr
    first, second = (json.loads(line) for line in enforce.stdout.splitlines())
    assert [a["action"] for a in first["deliveries"][0]["response"]["actions"]] == ["revoked"]
    assert second["event"] == "sg-ingress-lb-8080-world.json"
    assert (10250, "::/0") not in _ingress(cli, demo.node_sg)
