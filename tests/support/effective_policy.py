"""A function's effective execution-role policy, resolved from template.yaml the way a deployment resolves it.

For one ``LocalContext`` (account, region, parameters, physical ids): the function's ``Policies`` with every
intrinsic and condition evaluated (``TemplateResolver``), plus what the SAM transform adds to the role it
generates (samtranslator ``SamFunction._construct_role`` and ``_validate_and_inject_resource``, checked
against the real transform in tests/unit/test_effective_policy.py):

- ``AWSLambdaBasicExecutionRole`` (CloudWatch Logs), always;
- ``AWSXrayWriteOnlyAccess`` (``AWSXRayDaemonWriteAccess`` outside the aws partition) unless ``Tracing`` is
  absent or ``Disabled``;
- ``AWSLambdaVPCAccessExecutionRole`` with a ``VpcConfig``;
- ``DeadLetterQueue``: ``sqs:SendMessage`` / ``sns:Publish`` on its target;
- ``EventInvokeConfig.DestinationConfig`` OnSuccess/OnFailure: ``sqs:SendMessage`` (SQS), ``sns:publish``
  (SNS), ``lambda:InvokeFunction`` (Lambda), ``events:PutEvents`` (EventBridge) on the destination.

The managed policies' documents are AWS's (as published in the IAM console / AWS Managed Policy
Reference). SAM policy templates (``- SQSPollerPolicy: {...}``) are not expanded: eksguard writes inline
statements only (tests/unit/test_least_privilege.py), so one raises here rather than being skipped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.iam_policy import Statement

from eksguard.local.template import LocalContext, TemplateError, TemplateResolver, _properties, load_template

_LOGS = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"]
_XRAY = ["xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets",
         "xray:GetSamplingStatisticSummaries"]
_VPC = ["ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets",
        "ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"]
MANAGED_POLICIES: dict[str, list[dict[str, Any]]] = {
    "service-role/AWSLambdaBasicExecutionRole": [{"Effect": "Allow", "Action": _LOGS, "Resource": "*"}],
    "AWSXrayWriteOnlyAccess": [{"Effect": "Allow", "Action": _XRAY, "Resource": "*"}],
    "AWSXRayDaemonWriteAccess": [{"Effect": "Allow", "Action": _XRAY, "Resource": "*"}],
    "service-role/AWSLambdaVPCAccessExecutionRole": [{"Effect": "Allow", "Action": [*_LOGS, *_VPC], "Resource": "*"}],
}
_DESTINATION_ACTIONS = {"SQS": "sqs:SendMessage", "SNS": "sns:publish", "Lambda": "lambda:InvokeFunction",
                        "EventBridge": "events:PutEvents"}
_DLQ_ACTIONS = {"SQS": "sqs:SendMessage", "SNS": "sns:Publish"}
# Who uses what SAM adds: not the handler's boto3 calls, so no recorded call can exercise it.
RUNTIME_ORIGINS = ("managed:", "sam:")


@dataclass(frozen=True)
class Role:
    """What SAM would generate for a function: managed policy ARNs and inline statements, resolved."""

    function: str
    managed_policy_arns: tuple[str, ...]
    inline: tuple[Mapping[str, Any], ...]  # each {"PolicyName", "PolicyDocument"}, as the generated role has them
    statements: tuple[Statement, ...]  # every statement in force (managed ones expanded), for evaluation


def function_role(template_path: str | Path, ctx: LocalContext, logical_id: str) -> Role:
    template = load_template(template_path)
    resource = (template.get("Resources") or {}).get(logical_id)
    if not resource or resource.get("Type") != "AWS::Serverless::Function":
        raise TemplateError(f"{logical_id} is not an AWS::Serverless::Function of {template_path}")
    resolver = TemplateResolver(template, ctx)
    props = _properties(template, resource, "Function")
    if "Role" in props:
        raise TemplateError(f"{logical_id}: an explicit Role is not resolved here (SAM adds nothing to it)")
    managed = _managed(props, resolver, ctx.partition)
    inline: list[dict[str, Any]] = []
    for index, policy in enumerate(resolver.resolve(props.get("Policies")) or []):
        name = f"{logical_id}RolePolicy{index}"
        if isinstance(policy, str):
            managed.append(policy if policy.startswith("arn:") else _managed_arn(policy, ctx.partition))
        elif isinstance(policy, Mapping) and "Statement" in policy:
            inline.append({"PolicyName": name, "PolicyDocument": dict(policy)})
        else:
            raise TemplateError(f"{logical_id}.Policies[{index}]: a SAM policy template or unknown form "
                                f"({sorted(policy) if isinstance(policy, Mapping) else policy!r}); "
                                "eksguard uses inline statements only")
    inline += _sam_generated(logical_id, props, resolver)
    statements = [s for arn in managed for s in _managed_statements(arn)]
    for policy in inline:
        raw = policy["PolicyDocument"]["Statement"]
        for item in raw if isinstance(raw, list) else [raw]:
            statements.append(Statement.parse(item, origin=policy["PolicyName"]))
    return Role(logical_id, tuple(managed), tuple(inline), tuple(statements))


def _managed_arn(name: str, partition: str) -> str:
    return f"arn:{partition}:iam::aws:policy/{name}"


def _managed(props: Mapping[str, Any], resolver: TemplateResolver, partition: str) -> list[str]:
    arns = [_managed_arn("service-role/AWSLambdaBasicExecutionRole", partition)]
    tracing = resolver.resolve(props.get("Tracing"))
    if tracing and tracing != "Disabled":
        xray = "AWSXrayWriteOnlyAccess" if partition == "aws" else "AWSXRayDaemonWriteAccess"
        arns.append(_managed_arn(xray, partition))
    if props.get("VpcConfig"):
        arns.append(_managed_arn("service-role/AWSLambdaVPCAccessExecutionRole", partition))
    return arns


def _managed_statements(arn: str) -> list[Statement]:
    name = arn.split(":policy/", 1)[-1]
    if name not in MANAGED_POLICIES:
        raise TemplateError(f"managed policy {arn} is not known to tests/support/effective_policy.py")
    return [Statement.parse(s, origin=f"managed:{name.rsplit('/', 1)[-1]}") for s in MANAGED_POLICIES[name]]


def _sam_generated(logical_id: str, props: Mapping[str, Any], resolver: TemplateResolver) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    dlq = resolver.resolve(props.get("DeadLetterQueue"))
    if dlq:
        statement = {"Action": _DLQ_ACTIONS[dlq["Type"]], "Resource": dlq["TargetArn"], "Effect": "Allow"}
        out.append({"PolicyName": "sam:DeadLetterQueuePolicy",
                    "PolicyDocument": {"Version": "2012-10-17", "Statement": [statement]}})
    config = resolver.resolve(props.get("EventInvokeConfig")) or {}
    for name in ("OnSuccess", "OnFailure"):
        destination = (config.get("DestinationConfig") or {}).get(name)
        if not destination:
            continue
        kind, arn = destination.get("Type"), destination.get("Destination")
        if kind not in _DESTINATION_ACTIONS or not arn:
            raise TemplateError(f"{logical_id}: EventInvokeConfig {name} {kind} without a Destination ARN "
                                "(SAM would create a queue or topic): not resolved here")
        suffix = {"SQS": "SQSPolicy", "SNS": "SNSPolicy", "Lambda": "LambdaPolicy", "EventBridge": "EventBridgePolicy"}
        out.append({"PolicyName": f"sam:{logical_id}EventInvokeConfig{name}{suffix[kind]}",
                    "PolicyDocument": {"Statement": [{"Action": _DESTINATION_ACTIONS[kind], "Effect": "Allow",
                                                      "Resource": arn}]}})
    return out
