"""Generate docs/permissions.md from template.yaml: per function, every action, why, on which resources.

    .venv/bin/python -m tests.support.permissions_doc          # rewrite docs/permissions.md
    .venv/bin/python -m tests.support.permissions_doc --check  # exit 1 if the committed file is stale

"Why" is the comment written above each statement in template.yaml (one is required: a grant nobody can
explain is refused here). tests/unit/test_permissions_doc.py keeps the committed file equal to this output.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterator, Mapping
from typing import Any

from tests.paths import ROOT, TEMPLATE
from tests.support.effective_policy import function_role
from tests.support.iam_requests import applicable
from tests.support.permissions_check import UNEXERCISED, WIDEST, doc_context, functions

from eksguard.local.template import load_template

DOC = ROOT / "docs" / "permissions.md"
_RUNTIME_WHY = {
    "AWSLambdaBasicExecutionRole": "Lambda writes the function's logs to CloudWatch Logs (SAM adds it to every role)",
    "AWSXrayWriteOnlyAccess": "Tracing: Active - Lambda and the Powertools tracer send traces to X-Ray (SAM adds it)",
    "AWSXRayDaemonWriteAccess": "Tracing: Active - as above, outside the aws partition",
}


def render() -> str:
    template = load_template(TEMPLATE)
    comments = _comments(TEMPLATE.read_text(encoding="utf-8").splitlines())
    out = [
        "# eksguard's IAM permissions",
        "",
        "Generated from template.yaml by `python -m tests.support.permissions_doc`; do not edit by hand "
        "(tests/unit/test_permissions_doc.py fails when this file is stale).",
        "",
        "Each function's execution role, as SAM generates it: the statements of the function's `Policies` (with "
        "the template condition that adds them, if any) and what SAM adds itself. Resources are the template's, "
        "`${...}` being resolved at deployment. The test suite records every AWS call each function makes in the "
        "functional and end-to-end tests and fails on one its policy does not allow (action and resource ARN), "
        "and, when the whole suite runs, on a grant no call exercises unless it is explained below "
        "(tests/support/permissions_check.py).",
        "",
        "Rules the template keeps: no `*` in actions; `Resource: \"*\"` only for actions AWS authorizes on no "
        "resource type (each says so in a comment); eksguard's own roles are never rewritten (explicit Deny).",
        "",
    ]
    for function in functions():
        out += list(_function(function, template, comments))
    return "\n".join(out).rstrip() + "\n"


def _function(function: str, template: Mapping[str, Any], comments: Mapping[tuple[str, str], str]) -> Iterator[str]:
    resource = template["Resources"][function]
    props = resource["Properties"]
    condition = f" (deployed when `{resource['Condition']}`)" if resource.get("Condition") else ""
    yield f"## {function}{condition}"
    yield ""
    yield str(props.get("Description", "")).strip()
    yield ""
    yield "| Sid | effect | actions | resources | condition | why |"
    yield "|---|---|---|---|---|---|"
    for policy in props.get("Policies", []):
        for raw in policy["Statement"]:
            gate, statement = _gate(raw)
            if statement is None:
                continue
            sid = statement.get("Sid", "")
            actions = _list(statement.get("Action"))
            resources = [_intrinsic(r) for r in _list(statement.get("Resource"))]
            why = comments.get((function, sid), "")
            if not why:
                raise ValueError(f"{function} {sid}: no comment above the statement says why it is granted")
            cond = _condition(statement.get("Condition"))
            when = f"`{gate}`" + (f"; {cond}" if cond else "") if gate else cond
            yield (f"| {sid} | {statement['Effect']} | {'<br>'.join(f'`{a}`' for a in actions)} | "
                   f"{'<br>'.join(f'`{r}`' for r in resources)} | {when} | {why} |")
    role = function_role(TEMPLATE, doc_context(WIDEST), function)
    for arn in role.managed_policy_arns:
        name = arn.rsplit("/", 1)[-1]
        statements = [s for s in role.statements if s.origin == f"managed:{name}"]
        actions = [a for s in statements for a in s.actions]
        yield (f"| (SAM) {name} | Allow | {'<br>'.join(f'`{a}`' for a in actions)} | `*` | | "
               f"{_RUNTIME_WHY.get(name, 'added by SAM')} |")
    for policy in role.inline:
        if not policy["PolicyName"].startswith("sam:"):
            continue
        (statement,) = policy["PolicyDocument"]["Statement"]
        target = _intrinsic(_raw_destination(props, policy["PolicyName"]))
        yield (f"| (SAM) {policy['PolicyName'].removeprefix('sam:')} | Allow | `{statement['Action']}` | "
               f"`{target}` | | EventInvokeConfig OnFailure: Lambda parks an event that failed its retries "
               "(SAM adds it) |")
    explained = sorted((sid, action, why) for (fn, sid, action), why in UNEXERCISED.items() if fn == function)
    if explained:
        yield ""
        yield "Granted but exercised by no test, and why they stay: " + "; ".join(
            f"{sid} `{action}`: {why}" for sid, action, why in explained) + "."
    for statement in role.statements:
        if statement.effect != "Allow" or statement.origin.startswith(("managed:", "sam:")):
            continue
        pairs = {r: [a for a in statement.actions if applicable(a, r)] for r in statement.resources}
        if any(len(acts) != len(statement.actions) for acts in pairs.values()):
            yield ""
            yield (f"{statement.sid}: each resource counts only for the actions that take its type - "
                   + "; ".join(f"`{r.split(':', 5)[-1]}`: {', '.join(a.split(':', 1)[1] for a in acts) or 'none'}"
                               for r, acts in pairs.items()) + ".")
    yield ""


def _gate(raw: Any) -> tuple[str, Mapping[str, Any] | None]:
    """A statement, and the template condition that includes it (``!If [Cond, statement, NoValue]``)."""
    if isinstance(raw, Mapping) and "Fn::If" in raw:
        name, when_true, when_false = raw["Fn::If"]
        if when_false != {"Ref": "AWS::NoValue"}:
            raise ValueError(f"statement under {name} has an else branch: document it by hand")
        return str(name), when_true
    return "", raw


def _raw_destination(props: Mapping[str, Any], policy_name: str) -> Any:
    for name in ("OnSuccess", "OnFailure"):
        if name in policy_name:
            return props["EventInvokeConfig"]["DestinationConfig"][name]["Destination"]
    return "?"


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _intrinsic(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping) and len(value) == 1:
        (key, arg), = value.items()
        if key == "Fn::Sub":
            return str(arg if isinstance(arg, str) else arg[0])
        if key == "Ref":
            return "${" + str(arg) + "}"
        if key == "Fn::GetAtt":
            return "${" + ".".join(arg if isinstance(arg, list) else [arg]) + "}"
    return str(value)


def _condition(condition: Any) -> str:
    if not condition:
        return ""
    parts = []
    for op, keys in condition.items():
        for key, value in keys.items():
            values = ", ".join(f"`{_intrinsic(v)}`" for v in _list(value))
            parts.append(f"{op} `{key}` {values}")
    return "; ".join(parts)


def _comments(lines: list[str]) -> dict[tuple[str, str], str]:
    """(function, Sid) -> the comment block written just above that statement (or above its ``- !If``)."""
    out: dict[tuple[str, str], str] = {}
    function = ""
    for index, line in enumerate(lines):
        top = re.match(r"^  ([A-Za-z0-9]+):\s*$", line)
        if top:
            function = top.group(1)
        sid = re.match(r"^\s*(?:- )?Sid: (\S+)\s*$", line)
        if not sid:
            continue
        above, j = [], index - 1
        while j >= 0 and re.match(r"^\s*- (!If|[A-Z][A-Za-z0-9]*)\s*$", lines[j]):
            j -= 1  # "- !If" and its condition name sit between a comment and the Sid
        while j >= 0 and lines[j].strip().startswith("#"):
            above.insert(0, lines[j].strip().lstrip("#").strip())
            j -= 1
        out[(function, sid.group(1))] = " ".join(above).replace("|", "\\|")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="exit 1 when docs/permissions.md is stale")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        stale = not DOC.exists() or DOC.read_text(encoding="utf-8") != text
        if stale:
            print(f"{DOC} is stale: run python -m tests.support.permissions_doc", file=sys.stderr)
        return 1 if stale else 0
    DOC.write_text(text, encoding="utf-8")
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
