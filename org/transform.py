"""Expand eksguard's SAM template into plain CloudFormation, offline, for a service-managed StackSet.

StackSets with service-managed permissions do not support templates that use macros, and
``Transform: AWS::Serverless-2016-10-31`` is one. So the member template is transformed here, with the
same library CloudFormation's SAM transform runs (``samtranslator``), before it is uploaded.

Usage (with the SAM CLI's Python, which ships samtranslator)::

    .venv-sam/bin/python org/transform.py packaged.yaml eksguard-member.json

No AWS call is made: the managed policies SAM may resolve by name come from ``MANAGED_POLICIES`` below,
and the region the translator insists on is a placeholder that must not leak into the output
(``check_region_neutral`` fails the run if it does: one template serves every region of the StackSet).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import yaml

# AWS managed policies SAM can be asked to resolve by *name* (Policies: [AWSXRayDaemonWriteAccess]).
# eksguard's own template writes only inline statements, and samtranslator adds the X-Ray policy for
# ``Tracing: Active`` as an ``!Sub arn:${AWS::Partition}:...`` without consulting the loader; the map is
# kept so a name-form policy never triggers an iam:ListPolicies call. ``${AWS::Partition}`` is left to
# CloudFormation, so the same output serves aws, aws-cn and aws-us-gov.
MANAGED_POLICIES: dict[str, dict[str, str]] = {
    name: {"Fn::Sub": f"arn:${{AWS::Partition}}:iam::aws:policy/{path}{name}"}
    for path, name in [
        ("", "AWSXRayDaemonWriteAccess"),
        ("service-role/", "AWSLambdaBasicExecutionRole"),
        ("service-role/", "AWSLambdaVPCAccessExecutionRole"),
        ("service-role/", "AWSLambdaSQSQueueExecutionRole"),
        ("service-role/", "AWSLambdaRole"),
    ]
}

# The translator needs a region to start. It uses it for one thing that reaches the output: the
# *partition* of the managed-policy ARNs it adds to every function role (AWSLambdaBasicExecutionRole, and
# AWSXrayWriteOnlyAccess for Tracing: Active) -- written as literal arn:aws:..., not ${AWS::Partition}.
# So the output is per partition: one transform per partition the StackSet targets. The region itself must
# not leak (the template's own conditions name us-east-1, us-gov-west-1 and cn-north-1, so none of those).
PLACEHOLDER_REGIONS = {"aws": "eu-north-1", "aws-cn": "cn-northwest-1", "aws-us-gov": "us-gov-east-1"}
PLACEHOLDER_REGION = PLACEHOLDER_REGIONS["aws"]


class StaticPolicyLoader:
    """A ``ManagedPolicyLoader`` stand-in: a static map, and a record of what was asked for."""

    def __init__(self) -> None:
        self.loaded = 0

    def load(self) -> dict[str, Any]:
        self.loaded += 1
        return dict(MANAGED_POLICIES)


class _CfnLoader(yaml.SafeLoader):
    """YAML loader that turns CloudFormation short-form tags (!Ref, !Sub, ...) into their long form."""


def _construct_tag(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if tag_suffix == "Ref" else f"Fn::{tag_suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if tag_suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if tag_suffix == "Condition":
        return {"Condition": value}
    return {name: value}


_CfnLoader.add_multi_constructor("!", _construct_tag)


def load_template(path: Path) -> dict[str, Any]:
    """Read a SAM/CloudFormation template, YAML (short-form tags allowed) or JSON."""
    text = path.read_text()
    return json.loads(text) if text.lstrip().startswith("{") else yaml.load(text, Loader=_CfnLoader)


def with_placeholder_code(template: dict[str, Any], bucket: str = "eksguard-placeholder") -> dict[str, Any]:
    """Stand-in S3 locations for local CodeUri/ContentUri, as ``sam package`` would write (tests only)."""
    out = copy.deepcopy(template)
    for name, res in out.get("Resources", {}).items():
        props = res.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if isinstance(props.get(key), str) and not props[key].startswith("s3://"):
                props[key] = f"s3://{bucket}/{name}.zip"
    return out


def transform_template(template: dict[str, Any], partition: str = "aws") -> tuple[dict[str, Any], StaticPolicyLoader]:
    """The SAM transform, offline. Parameters stay parameters (no values given): StackSet passes them."""
    from samtranslator.translator.transform import transform

    loader = StaticPolicyLoader()
    # samtranslator builds its own boto3 session to learn the region (no call is made): a placeholder,
    # set for the duration of the transform only.
    saved = os.environ.get("AWS_DEFAULT_REGION")
    region = PLACEHOLDER_REGIONS[partition]
    os.environ["AWS_DEFAULT_REGION"] = region
    try:
        out = transform(copy.deepcopy(template), {}, loader)  # type: ignore[arg-type]
    finally:
        if saved is None:
            os.environ.pop("AWS_DEFAULT_REGION", None)
        else:
            os.environ["AWS_DEFAULT_REGION"] = saved
    check_region_neutral(out, region)
    return out, loader


def regionalize_code(template: dict[str, Any], bucket: str, bucket_sub: str) -> int:
    """Point every code location in ``bucket`` at a per-region bucket (``Fn::Sub`` of ``bucket_sub``).

    Lambda reads a function's or layer's zip only from a bucket in its own region, so a template deployed to
    several regions needs one bucket per region holding the same keys, e.g. ``my-artifacts-${AWS::Region}``.
    """
    changed = 0
    for res in template["Resources"].values():
        props = res.get("Properties", {})
        for code in (props.get("Code"), props.get("Content")):
            if isinstance(code, dict) and code.get("S3Bucket") == bucket:
                code["S3Bucket"] = {"Fn::Sub": bucket_sub}
                changed += 1
    return changed


def verify_member(member: dict[str, Any], sam: dict[str, Any]) -> list[str]:
    """What is wrong with a transformed member template (empty: fit for a service-managed StackSet)."""
    problems = []
    if "Transform" in member:
        problems.append(f"still has Transform {member['Transform']!r}")
    resources = member.get("Resources", {})
    for name, res in resources.items():
        if res["Type"].startswith("AWS::Serverless::"):
            problems.append(f"{name} is still {res['Type']}")
    for name, res in sam.get("Resources", {}).items():
        became = resources.get(name, {}).get("Type")
        if res["Type"] == "AWS::Serverless::Function" and became != "AWS::Lambda::Function":
            problems.append(f"{name} did not become an AWS::Lambda::Function")
    for name, res in resources.items():
        if res["Type"] == "AWS::IAM::Role" and res["Properties"].get("Path") != "/eksguard/":
            problems.append(f"role {name} is not under the IAM path /eksguard/ (the loop guard needs it)")
    return problems


def check_region_neutral(template: dict[str, Any], region: str = PLACEHOLDER_REGION) -> None:
    """Fail if the placeholder region was baked into the output (the StackSet deploys it everywhere)."""
    text = json.dumps(template)
    if region in text:
        where = re.findall(r".{0,60}" + re.escape(region) + r".{0,20}", text)[:3]
        raise SystemExit(f"transform baked region {region} into the template: {where}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("template", type=Path, help="packaged SAM template (sam package --output-template-file)")
    ap.add_argument("output", type=Path, help="plain CloudFormation JSON to write")
    ap.add_argument("--placeholder-code", action="store_true",
                    help="replace local CodeUri/ContentUri with placeholder S3 URIs (dry runs, tests)")
    ap.add_argument("--partition", choices=sorted(PLACEHOLDER_REGIONS), default="aws",
                    help="partition of the target regions (SAM writes it into managed-policy ARNs)")
    ap.add_argument("--regional-bucket", nargs=2, metavar=("BUCKET", "SUB"),
                    help="replace code bucket BUCKET with Fn::Sub SUB, e.g. 'my-artifacts-${AWS::Region}'")
    ap.add_argument("--check", action="store_true",
                    help="also verify the output (no Transform, Lambda functions, roles under /eksguard/)")
    args = ap.parse_args(argv)
    template = load_template(args.template)
    if args.placeholder_code:
        template = with_placeholder_code(template)
    out, loader = transform_template(template, args.partition)
    if args.check:
        problems = verify_member(out, template)
        for p in problems:
            print(f"FAIL: {p}", file=sys.stderr)
        if problems:
            return 1
        print("check: OK", file=sys.stderr)
    if args.regional_bucket:
        n = regionalize_code(out, *args.regional_bucket)
        print(f"{n} code locations now in {args.regional_bucket[1]}", file=sys.stderr)
    args.output.write_text(json.dumps(out, indent=1, sort_keys=False) + "\n")
    kinds: dict[str, int] = {}
    for res in out["Resources"].values():
        kinds[res["Type"]] = kinds.get(res["Type"], 0) + 1
    print(f"wrote {args.output}: {len(out['Resources'])} resources, "
          f"{kinds.get('AWS::Lambda::Function', 0)} functions, managed-policy map loaded {loader.loaded}x",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
