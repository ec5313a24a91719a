"""Create a template's stateful resources wherever boto3 points (``AWS_ENDPOINT_URL``: moto, usually).

Idempotent: each resource is looked up by its local name first and reused when it exists, so running
twice creates nothing new and returns the same physical map.
"""

from __future__ import annotations

import contextlib
import json
import secrets
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError

from eksguard.local.template import LocalContext, TemplateResolver, load_template, stateful_resources

Physical = dict[str, dict[str, str]]
_MISSING_QUEUE = {"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"}
_QUEUE_ATTRIBUTES = (
    "ContentBasedDeduplication", "DeduplicationScope", "DelaySeconds", "FifoQueue", "FifoThroughputLimit",
    "MaximumMessageSize", "MessageRetentionPeriod", "ReceiveMessageWaitTimeSeconds", "RedriveAllowPolicy",
    "RedrivePolicy", "SqsManagedSseEnabled", "VisibilityTimeout",
)  # KmsMasterKeyId and KmsDataKeyReusePeriodSeconds are left out: no KMS keys exist locally.
_SIMPLE_TYPES = {"String": "S", "Number": "N", "Binary": "B"}


class _Clients:
    """One client per service, all in the context's region so ARNs agree with the resolver's."""

    def __init__(self, session: boto3.session.Session, region: str) -> None:
        self._session, self._region = session, region
        self._cache: dict[str, Any] = {}

    def __call__(self, service: str) -> Any:
        if service not in self._cache:
            self._cache[service] = self._session.client(service, region_name=self._region)
        return self._cache[service]


def provision(template_path: str | Path, ctx_base: LocalContext, session: boto3.session.Session) -> Physical:
    """Create (or find) every deployed stateful resource; return the ``physical`` map for LocalContext."""
    template = load_template(template_path)
    physical: Physical = {lid: dict(attrs) for lid, attrs in ctx_base.physical.items()}
    names = _local_names(template, ctx_base)
    clients = _Clients(session, ctx_base.region)
    for spec in stateful_resources(template, TemplateResolver(template, ctx_base)):
        if not spec.deployed:
            continue
        # Resolve only now: a queue's RedrivePolicy needs the Arn of the DLQ created a moment ago.
        resolver = TemplateResolver(template, replace(ctx_base, physical={**names, **physical}))
        create = _PROVISIONERS[spec.type]
        physical[spec.logical_id] = create(clients, spec.logical_id, spec.properties(resolver))
    return physical


def _local_names(template: Mapping[str, Any], ctx: LocalContext) -> Physical:
    """Functions and roles are not created locally, but rules name them (a target, a role): give them the
    ARNs they would have, by logical id, so those rules resolve."""
    arns = {"AWS::Serverless::Function": f"arn:{ctx.partition}:lambda:{ctx.region}:{ctx.account_id}:function:{{}}",
            "AWS::IAM::Role": f"arn:{ctx.partition}:iam::{ctx.account_id}:role/eksguard/{{}}"}
    return {lid: {"Ref": lid, "Arn": arns[res["Type"]].format(lid)}
            for lid, res in (template.get("Resources") or {}).items() if res.get("Type") in arns}


def _flag(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def _attribute(value: Any) -> str:
    """SNS and SQS attributes are strings; CloudFormation lets templates write JSON values."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value) if isinstance(value, Mapping | list) else str(value)


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


# ---- DynamoDB ----------------------------------------------------------------------------------------


def _table(clients: _Clients, lid: str, props: Mapping[str, Any]) -> dict[str, str]:
    ddb = clients("dynamodb")
    name = props.get("TableName") or lid
    table = _describe_table(ddb, name) or _create_table(ddb, name, props)
    _ensure_ttl(ddb, name, props.get("TimeToLiveSpecification"))
    _ensure_pitr(ddb, name, props.get("PointInTimeRecoverySpecification"))
    attrs = {"Ref": name, "Arn": table["TableArn"]}
    if table.get("LatestStreamArn"):
        attrs["StreamArn"] = table["LatestStreamArn"]
    return attrs


def _describe_table(ddb: Any, name: str) -> dict[str, Any] | None:
    try:
        return ddb.describe_table(TableName=name)["Table"]
    except ddb.exceptions.ResourceNotFoundException:
        return None


def _create_table(ddb: Any, name: str, props: Mapping[str, Any]) -> dict[str, Any]:
    throughput = props.get("ProvisionedThroughput")
    billing = props.get("BillingMode") or ("PROVISIONED" if throughput else "PAY_PER_REQUEST")
    request: dict[str, Any] = {
        "TableName": name,
        "KeySchema": props["KeySchema"],
        "AttributeDefinitions": props["AttributeDefinitions"],
        "BillingMode": billing,
    }
    if billing == "PROVISIONED":
        request["ProvisionedThroughput"] = _throughput(throughput or {})
    for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        if props.get(key):
            # Only global indexes carry their own throughput.
            request[key] = [_index(i, billing if key.startswith("Global") else "") for i in props[key]]
    if props.get("StreamSpecification"):
        view = props["StreamSpecification"]["StreamViewType"]
        request["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": view}
    if props.get("Tags"):
        request["Tags"] = props["Tags"]
    # SSESpecification is ignored: encryption at rest means nothing to a local stand-in.
    # ResourceInUse: another run created it between our describe and this create, so reuse it.
    with contextlib.suppress(ddb.exceptions.ResourceInUseException):
        ddb.create_table(**request)
    ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    return ddb.describe_table(TableName=name)["Table"]


def _throughput(spec: Mapping[str, Any]) -> dict[str, int]:
    return {key: int(spec.get(key, 1)) for key in ("ReadCapacityUnits", "WriteCapacityUnits")}


def _index(spec: Mapping[str, Any], billing: str) -> dict[str, Any]:
    # CloudFormation accepts keys the API does not (ContributorInsightsSpecification, ...): keep the API's.
    index = {key: spec[key] for key in ("IndexName", "KeySchema", "Projection") if key in spec}
    if billing == "PROVISIONED":
        index["ProvisionedThroughput"] = _throughput(spec.get("ProvisionedThroughput") or {})
    return index


def _ensure_ttl(ddb: Any, name: str, spec: Mapping[str, Any] | None) -> None:
    if not spec or not _flag(spec.get("Enabled")):
        return
    current = ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    if current.get("TimeToLiveStatus") in ("ENABLED", "ENABLING"):
        return  # DynamoDB refuses to re-enable TTL, even with the same attribute
    ttl = {"Enabled": True, "AttributeName": spec["AttributeName"]}
    ddb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)


def _ensure_pitr(ddb: Any, name: str, spec: Mapping[str, Any] | None) -> None:
    if not spec or not _flag(spec.get("PointInTimeRecoveryEnabled")):
        return
    backups = ddb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
    if backups.get("PointInTimeRecoveryDescription", {}).get("PointInTimeRecoveryStatus") == "ENABLED":
        return
    pitr = {"PointInTimeRecoveryEnabled": True}
    ddb.update_continuous_backups(TableName=name, PointInTimeRecoverySpecification=pitr)


def _simple_table(clients: _Clients, lid: str, props: Mapping[str, Any]) -> dict[str, str]:
    key = props.get("PrimaryKey") or {}
    key_name, key_type = key.get("Name", "id"), _SIMPLE_TYPES[key.get("Type", "String")]
    table: dict[str, Any] = {
        "TableName": props.get("TableName"),
        "KeySchema": [{"AttributeName": key_name, "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": key_name, "AttributeType": key_type}],
        "ProvisionedThroughput": props.get("ProvisionedThroughput"),
        "Tags": [{"Key": k, "Value": v} for k, v in (props.get("Tags") or {}).items()],
    }
    return _table(clients, lid, {k: v for k, v in table.items() if v})


# ---- SNS and SQS -------------------------------------------------------------------------------------


def _fifo_name(name: str, fifo: Any) -> str:
    return f"{name}.fifo" if _flag(fifo) and not name.endswith(".fifo") else name


def _topic(clients: _Clients, lid: str, props: Mapping[str, Any]) -> dict[str, str]:
    sns = clients("sns")
    name = _fifo_name(props.get("TopicName") or lid, props.get("FifoTopic"))
    arn = _find_topic(sns, name)
    if arn is None:
        keys = ("DisplayName", "FifoTopic", "ContentBasedDeduplication")  # KmsMasterKeyId: no KMS locally
        attributes = {k: _attribute(props[k]) for k in keys if k in props}
        tags = {"Tags": props["Tags"]} if props.get("Tags") else {}
        arn = sns.create_topic(Name=name, Attributes=attributes, **tags)["TopicArn"]
    return {"Ref": arn, "Arn": arn, "TopicArn": arn, "TopicName": name}


def _find_topic(sns: Any, name: str) -> str | None:
    for page in sns.get_paginator("list_topics").paginate():
        for topic in page.get("Topics", []):
            if topic["TopicArn"].rsplit(":", 1)[-1] == name:
                return str(topic["TopicArn"])
    return None


def _queue(clients: _Clients, lid: str, props: Mapping[str, Any]) -> dict[str, str]:
    sqs = clients("sqs")
    name = _fifo_name(props.get("QueueName") or lid, props.get("FifoQueue"))
    try:
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    except ClientError as exc:
        if _error_code(exc) not in _MISSING_QUEUE:
            raise
        attributes = {k: _attribute(props[k]) for k in _QUEUE_ATTRIBUTES if k in props}
        tags = {tag["Key"]: tag["Value"] for tag in props.get("Tags") or []}
        url = sqs.create_queue(QueueName=name, Attributes=attributes, tags=tags)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return {"Ref": url, "Arn": arn, "QueueName": name, "QueueUrl": url}


# ---- Secrets Manager ---------------------------------------------------------------------------------


def _secret(clients: _Clients, lid: str, props: Mapping[str, Any]) -> dict[str, str]:
    sm = clients("secretsmanager")
    name = props.get("Name") or lid
    try:
        arn = sm.describe_secret(SecretId=name)["ARN"]
    except sm.exceptions.ResourceNotFoundException:
        request: dict[str, Any] = {"Name": name, "SecretString": _secret_string(props)}
        if props.get("Description"):
            request["Description"] = props["Description"]
        if props.get("Tags"):
            request["Tags"] = props["Tags"]
        arn = sm.create_secret(**request)["ARN"]
    return {"Ref": arn, "Arn": arn, "Id": arn, "Name": name}


def _secret_string(props: Mapping[str, Any]) -> str:
    """The template's SecretString, else a placeholder shaped like its GenerateSecretString would be."""
    if "SecretString" in props:
        return str(props["SecretString"])
    generate = props.get("GenerateSecretString") or {}
    length = int(generate.get("PasswordLength", 32))
    value = secrets.token_urlsafe(length)[:length]
    template, key = generate.get("SecretStringTemplate"), generate.get("GenerateStringKey")
    if template and key:
        return json.dumps({**json.loads(template), key: value})
    return value


# ---- EventBridge (the findings buses and the rules on them; the guards' rules are routed locally) ---------


def _event_bus(clients: _Clients, lid: str, props: Mapping[str, Any]) -> dict[str, str]:
    events = clients("events")
    name = props.get("Name") or lid
    try:
        arn = events.describe_event_bus(Name=name)["Arn"]
    except events.exceptions.ResourceNotFoundException:
        arn = events.create_event_bus(Name=name)["EventBusArn"]
    return {"Ref": name, "Arn": arn, "Name": name}


def _rule(clients: _Clients, lid: str, props: Mapping[str, Any]) -> dict[str, str]:
    """The rule and its targets, except Lambda functions: moto cannot invoke them (the local runner and
    the tests invoke functions themselves). put_rule and put_targets replace, so this is idempotent."""
    events = clients("events")
    name, bus = props.get("Name") or lid, props.get("EventBusName") or "default"
    request = {"Name": name, "EventBusName": bus, "State": props.get("State") or "ENABLED"}
    if props.get("EventPattern"):
        request["EventPattern"] = json.dumps(props["EventPattern"])
    if props.get("ScheduleExpression"):
        request["ScheduleExpression"] = props["ScheduleExpression"]
    arn = events.put_rule(**request)["RuleArn"]
    keys = ("Id", "Arn", "RoleArn", "Input", "InputPath", "DeadLetterConfig", "RetryPolicy")
    targets = [{k: t[k] for k in keys if k in t} for t in props.get("Targets") or []
               if ":lambda:" not in str(t.get("Arn", ""))]
    if targets:
        events.put_targets(Rule=name, EventBusName=bus, Targets=targets)
    return {"Ref": name, "Arn": arn}


_PROVISIONERS: dict[str, Callable[[_Clients, str, Mapping[str, Any]], dict[str, str]]] = {
    "AWS::DynamoDB::Table": _table,
    "AWS::Serverless::SimpleTable": _simple_table,
    "AWS::SNS::Topic": _topic,
    "AWS::SQS::Queue": _queue,
    "AWS::SecretsManager::Secret": _secret,
    "AWS::Events::EventBus": _event_bus,
    "AWS::Events::Rule": _rule,
}
