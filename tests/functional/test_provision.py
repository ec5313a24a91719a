"""Provisioning a template's stateful resources into moto's in-process AWS."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from eksguard.local.provision import provision
from eksguard.local.template import LocalContext, TemplateResolver, functions, load_template

REGION = "eu-west-1"
ACCOUNT = "123456789012"  # moto's default account

TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage: {Type: String, Default: dev}
Conditions:
  IsProd: !Equals [!Ref Stage, prod]
Resources:
  WorkQueue:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: !Sub "${AWS::StackName}-work"
      VisibilityTimeout: 120
      MessageRetentionPeriod: 86400
      SqsManagedSseEnabled: true
      KmsMasterKeyId: alias/aws/sqs
      RedrivePolicy:
        deadLetterTargetArn: !GetAtt DeadLetterQueue.Arn
        maxReceiveCount: 3
  DeadLetterQueue:
    Type: AWS::SQS::Queue
    Properties:
      MessageRetentionPeriod: 1209600
  AuditTable:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: !Sub "${AWS::StackName}-${Stage}-audit"
      BillingMode: PAY_PER_REQUEST
      KeySchema:
        - {AttributeName: pk, KeyType: HASH}
        - {AttributeName: sk, KeyType: RANGE}
      AttributeDefinitions:
        - {AttributeName: pk, AttributeType: S}
        - {AttributeName: sk, AttributeType: S}
        - {AttributeName: resource, AttributeType: S}
      GlobalSecondaryIndexes:
        - IndexName: by-resource
          KeySchema: [{AttributeName: resource, KeyType: HASH}, {AttributeName: sk, KeyType: RANGE}]
          Projection: {ProjectionType: ALL}
      TimeToLiveSpecification: {AttributeName: expires_at, Enabled: true}
      PointInTimeRecoverySpecification: {PointInTimeRecoveryEnabled: true}
      SSESpecification: {SSEEnabled: true}
      StreamSpecification: {StreamViewType: NEW_AND_OLD_IMAGES}
  IdsTable:
    Type: AWS::Serverless::SimpleTable
  AlertTopic:
    Type: AWS::SNS::Topic
    Properties:
      TopicName: !Sub "${AWS::StackName}-alerts"
      DisplayName: eksguard alerts
  WebhookSecret:
    Type: AWS::SecretsManager::Secret
    Properties:
      Name: eksguard/webhook
      SecretString: '{"url": "https://hooks.example.invalid"}'
  GeneratedSecret:
    Type: AWS::SecretsManager::Secret
    Properties:
      GenerateSecretString: {SecretStringTemplate: '{"user": "guard"}', GenerateStringKey: password}
  ProdOnlyQueue:
    Type: AWS::SQS::Queue
    Condition: IsProd
  Guard:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/guard
      Handler: app.lambda_handler
      Runtime: python3.12
      Environment:
        Variables:
          AUDIT_TABLE: !Ref AuditTable
          AUDIT_STREAM: !GetAtt AuditTable.StreamArn
          WORK_QUEUE_URL: !Ref WorkQueue
          ALERT_TOPIC_ARN: !Ref AlertTopic
          SECRET_ARN: !Ref WebhookSecret
"""


@pytest.fixture
def template_path(tmp_path: Path) -> Path:
    path = tmp_path / "template.yaml"
    path.write_text(TEMPLATE)
    return path


@pytest.fixture
def session(monkeypatch: pytest.MonkeyPatch) -> Iterator[boto3.session.Session]:
    # Fake credentials and no endpoint override before any client exists, so nothing can reach AWS.
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    with mock_aws():
        yield boto3.session.Session(region_name=REGION)


def ctx() -> LocalContext:
    return LocalContext(account_id=ACCOUNT, region=REGION, stack_name="eksguard-test")


def test_provisions_every_stateful_resource(template_path: Path, session: boto3.session.Session) -> None:
    physical = provision(template_path, ctx(), session)
    assert set(physical) == {"WorkQueue", "DeadLetterQueue", "AuditTable", "IdsTable", "AlertTopic",
                             "WebhookSecret", "GeneratedSecret"}  # ProdOnlyQueue's condition is false
    for attrs in physical.values():
        assert all(isinstance(v, str) and v for v in attrs.values())


def test_table_keys_index_ttl_and_backups(template_path: Path, session: boto3.session.Session) -> None:
    physical = provision(template_path, ctx(), session)
    ddb = session.client("dynamodb")
    name = "eksguard-test-dev-audit"
    assert physical["AuditTable"]["Ref"] == name
    table = ddb.describe_table(TableName=name)["Table"]
    assert physical["AuditTable"]["Arn"] == table["TableArn"]
    assert physical["AuditTable"]["StreamArn"] == table["LatestStreamArn"]
    assert table["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"},
                                  {"AttributeName": "sk", "KeyType": "RANGE"}]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    (gsi,) = table["GlobalSecondaryIndexes"]
    assert gsi["IndexName"] == "by-resource"
    assert gsi["KeySchema"][0] == {"AttributeName": "resource", "KeyType": "HASH"}
    ttl = ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "expires_at")
    backups = ddb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
    assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"


def test_simple_table_defaults(template_path: Path, session: boto3.session.Session) -> None:
    physical = provision(template_path, ctx(), session)
    assert physical["IdsTable"]["Ref"] == "IdsTable"
    assert "StreamArn" not in physical["IdsTable"]
    table = session.client("dynamodb").describe_table(TableName="IdsTable")["Table"]
    assert table["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert table["AttributeDefinitions"] == [{"AttributeName": "id", "AttributeType": "S"}]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"


def test_queues_and_redrive(template_path: Path, session: boto3.session.Session) -> None:
    physical = provision(template_path, ctx(), session)
    sqs = session.client("sqs")
    work, dlq = physical["WorkQueue"], physical["DeadLetterQueue"]
    assert work["QueueName"] == "eksguard-test-work"
    assert dlq["QueueName"] == "DeadLetterQueue"
    assert work["Ref"] == sqs.get_queue_url(QueueName="eksguard-test-work")["QueueUrl"]
    assert dlq["Arn"] == f"arn:aws:sqs:{REGION}:{ACCOUNT}:DeadLetterQueue"
    attributes = sqs.get_queue_attributes(QueueUrl=work["Ref"], AttributeNames=["All"])["Attributes"]
    redrive = json.loads(attributes["RedrivePolicy"])
    assert redrive == {"deadLetterTargetArn": dlq["Arn"], "maxReceiveCount": 3}
    assert (attributes["VisibilityTimeout"], attributes["MessageRetentionPeriod"]) == ("120", "86400")
    assert attributes["SqsManagedSseEnabled"] == "true"
    assert "KmsMasterKeyId" not in attributes


def test_topic_and_secrets(template_path: Path, session: boto3.session.Session) -> None:
    physical = provision(template_path, ctx(), session)
    topic = physical["AlertTopic"]
    assert topic["Ref"] == topic["Arn"] == f"arn:aws:sns:{REGION}:{ACCOUNT}:eksguard-test-alerts"
    assert topic["TopicName"] == "eksguard-test-alerts"
    sns_attrs = session.client("sns").get_topic_attributes(TopicArn=topic["Arn"])["Attributes"]
    assert sns_attrs["DisplayName"] == "eksguard alerts"
    sm = session.client("secretsmanager")
    webhook = physical["WebhookSecret"]
    assert webhook["Ref"] == sm.describe_secret(SecretId="eksguard/webhook")["ARN"]
    assert json.loads(sm.get_secret_value(SecretId=webhook["Ref"])["SecretString"]) == {
        "url": "https://hooks.example.invalid"}
    generated = json.loads(sm.get_secret_value(SecretId="GeneratedSecret")["SecretString"])
    assert generated["user"] == "guard"
    assert len(generated["password"]) == 32


def test_second_run_is_a_no_op(template_path: Path, session: boto3.session.Session) -> None:
    first = provision(template_path, ctx(), session)
    generated = session.client("secretsmanager").get_secret_value(SecretId="GeneratedSecret")["SecretString"]
    second = provision(template_path, ctx(), session)
    assert second == first
    assert len(session.client("sqs").list_queues()["QueueUrls"]) == 2
    assert len(session.client("dynamodb").list_tables()["TableNames"]) == 2
    assert len(session.client("sns").list_topics()["Topics"]) == 1
    assert len(session.client("secretsmanager").list_secrets()["SecretList"]) == 2
    # The placeholder secret is reused, not regenerated.
    again = session.client("secretsmanager").get_secret_value(SecretId="GeneratedSecret")["SecretString"]
    assert again == generated


def test_existing_physical_entries_are_kept(template_path: Path, session: boto3.session.Session) -> None:
    base = LocalContext(account_id=ACCOUNT, region=REGION, stack_name="eksguard-test",
                        physical={"SomeRole": {"Ref": "role", "Arn": "arn:aws:iam::1:role/x"}})
    physical = provision(template_path, base, session)
    assert physical["SomeRole"] == {"Ref": "role", "Arn": "arn:aws:iam::1:role/x"}


def test_physical_map_resolves_functions(template_path: Path, session: boto3.session.Session) -> None:
    physical = provision(template_path, ctx(), session)
    template: dict[str, Any] = load_template(template_path)
    local = LocalContext(account_id=ACCOUNT, region=REGION, stack_name="eksguard-test", physical=physical)
    env = functions(template, TemplateResolver(template, local))["Guard"].environment
    assert env == {
        "AUDIT_TABLE": "eksguard-test-dev-audit",
        "AUDIT_STREAM": physical["AuditTable"]["StreamArn"],
        "WORK_QUEUE_URL": physical["WorkQueue"]["Ref"],
        "ALERT_TOPIC_ARN": physical["AlertTopic"]["Arn"],
        "SECRET_ARN": physical["WebhookSecret"]["Arn"],
    }


def test_conditional_resources_follow_parameters(template_path: Path, session: boto3.session.Session) -> None:
    prod = LocalContext(account_id=ACCOUNT, region=REGION, parameters={"Stage": "prod"})
    physical = provision(template_path, prod, session)
    assert physical["ProdOnlyQueue"]["QueueName"] == "ProdOnlyQueue"
    assert physical["AuditTable"]["Ref"] == "eksguard-local-prod-audit"
