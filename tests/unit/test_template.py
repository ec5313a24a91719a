"""Template loading (short-form tags) and local resolution of intrinsic functions, Globals and events."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from eksguard.local.template import (
    LocalContext,
    TemplateError,
    TemplateResolver,
    functions,
    load_template,
    stateful_resources,
)

TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage: {Type: String, Default: dev, AllowedValues: [dev, prod]}
  Ports: {Type: CommaDelimitedList, Default: "22, 443"}
  Subnets: {Type: "List<AWS::EC2::Subnet::Id>", Default: "subnet-1,subnet-2"}
  MaxPrefix: {Type: Number, Default: 16}
  Required: {Type: String}
Mappings:
  StageMap:
    dev: {Greeting: hello}
    prod: {Greeting: hi}
Conditions:
  IsProd: !Equals [!Ref Stage, prod]
  IsDev: !Not [!Condition IsProd]
  HasSsh: !Or [!Equals [!Select [0, !Ref Ports], "22"], !Condition IsProd]
  DevWithSsh: !And [!Condition IsDev, !Condition HasSsh]
Globals:
  Function:
    Runtime: python3.12
    Timeout: 30
    Architectures: [arm64]
    Layers: [!Ref SharedLayer]
    Environment:
      Variables:
        STAGE: !Ref Stage
        TABLE: !Ref Table
        SHARED: from-globals
  SimpleTable:
    SSESpecification: {SSEEnabled: true}
Resources:
  SharedLayer:
    Type: AWS::Serverless::LayerVersion
    Properties: {ContentUri: layers/shared}
  WorkQueue:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: !Sub "${AWS::StackName}-work"
      RedrivePolicy: {deadLetterTargetArn: !GetAtt DeadLetter.Arn, maxReceiveCount: 3}
  DeadLetter:
    Type: AWS::SQS::Queue
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: !Sub "${AWS::StackName}-${Stage}-audit"
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
  Ids:
    Type: AWS::Serverless::SimpleTable
    Properties: {PrimaryKey: {Name: id, Type: String}}
  Topic:
    Type: AWS::SNS::Topic
  ProdSecret:
    Type: AWS::SecretsManager::Secret
    Condition: IsProd
    Properties: {Name: prod-secret}
  Guard:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/guard
      Handler: app.lambda_handler
      MemorySize: 256
      Layers: [!Sub "arn:${AWS::Partition}:lambda:${AWS::Region}:017000801446:layer:Powertools:3"]
      Environment:
        Variables:
          SHARED: from-function
          QUEUE_ARN: !GetAtt WorkQueue.Arn
          DLQ_URL: !Sub "${DeadLetter}"
          DLQ_ARN: !Sub "arn is ${DeadLetter.Arn}"
          ONLY_PROD: !If [IsProd, prod-only, !Ref AWS::NoValue]
          JOINED: !Join ["|", !Ref Ports]
          SECOND: !Select [1, !Split ["/", "a/b/c"]]
          GREETING:
            !Sub ["${Word}, ${AWS::Region}! ${!Literal}", {Word: !FindInMap [StageMap, !Ref Stage, Greeting]}]
          B64: !Base64 hello
          URL: !Sub "https://sqs.${AWS::Region}.${AWS::URLSuffix}/${AWS::AccountId}"
          TOPIC_NAME: !GetAtt [Topic, TopicName]
          DEV_WITH_SSH: !If [DevWithSsh, "yes", "no"]
          NUMBER: !Ref MaxPrefix
          FLAG: true
      Events:
        Trail:
          Type: EventBridgeRule
          Properties:
            Pattern:
              source: [aws.ec2]
              detail:
                errorCode: [{exists: false}]
                $or:
                  - invokedBy: [{exists: false}]
                  - invokedBy: [{anything-but: {prefix: !Sub "${AWS::Partition}."}}]
            RetryPolicy: {MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 3600}
            DeadLetterConfig: {Arn: !GetAtt DeadLetter.Arn}
        Nightly:
          Type: Schedule
          Properties: {Schedule: rate(1 day), Enabled: false}
        Hourly:
          Type: ScheduleV2
          Properties: {ScheduleExpression: rate(1 hour)}
        Web:
          Type: Api
          Properties: {Path: /, Method: get}
  ProdOnly:
    Type: AWS::Serverless::Function
    Condition: IsProd
    Properties:
      CodeUri: functions/prod
      Handler: app.handler
      Architectures: [x86_64]
      Environment: {Variables: {STAGE: overridden}}
"""

PHYSICAL = {
    "DeadLetter": {"Ref": "https://sqs.local/dlq", "Arn": "arn:aws:sqs:eu-west-1:123456789012:dlq"},
    "WorkQueue": {"Ref": "https://sqs.local/work", "Arn": "arn:aws:sqs:eu-west-1:123456789012:work"},
    "Topic": {"Ref": "arn:aws:sns:eu-west-1:123456789012:topic", "TopicName": "topic"},
    "Table": {"Ref": "eksguard-local-dev-audit", "Arn": "arn:aws:dynamodb:eu-west-1:123456789012:table/x"},
}


@pytest.fixture
def template_path(tmp_path: Path) -> Path:
    path = tmp_path / "template.yaml"
    path.write_text(TEMPLATE)
    return path


@pytest.fixture
def template(template_path: Path) -> dict[str, Any]:
    return load_template(template_path)


def ctx(**overrides: Any) -> LocalContext:
    base: dict[str, Any] = {"account_id": "123456789012", "region": "eu-west-1", "physical": PHYSICAL}
    return LocalContext(**{**base, **overrides})


# ---- loading -----------------------------------------------------------------------------------------


def test_short_form_tags_become_long_form(tmp_path: Path) -> None:
    path = tmp_path / "tags.yaml"
    path.write_text(
        "ref: !Ref X\n"
        "sub: !Sub 'a-${X}'\n"
        "sub_list: !Sub ['${A}', {A: !Ref X}]\n"
        "att: !GetAtt Db.Endpoint.Address\n"
        "att_list: !GetAtt [Db, Arn]\n"
        "if: !If [C, 1, 2]\n"
        "equals: !Equals [a, b]\n"
        "not: !Not [!Condition C]\n"
        "and: !And [!Condition C, !Condition D]\n"
        "or: !Or [!Condition C, !Condition D]\n"
        "join: !Join ['', [a, b]]\n"
        "select: !Select [0, !GetAZs '']\n"
        "split: !Split [',', 'a,b']\n"
        "map: !FindInMap [M, k1, k2]\n"
        "b64: !Base64 text\n"
        "import: !ImportValue shared-vpc\n"
        "cidr: !Cidr [10.0.0.0/16, 4, 8]\n"
    )
    assert load_template(path) == {
        "ref": {"Ref": "X"},
        "sub": {"Fn::Sub": "a-${X}"},
        "sub_list": {"Fn::Sub": ["${A}", {"A": {"Ref": "X"}}]},
        "att": {"Fn::GetAtt": ["Db", "Endpoint.Address"]},
        "att_list": {"Fn::GetAtt": ["Db", "Arn"]},
        "if": {"Fn::If": ["C", 1, 2]},
        "equals": {"Fn::Equals": ["a", "b"]},
        "not": {"Fn::Not": [{"Condition": "C"}]},
        "and": {"Fn::And": [{"Condition": "C"}, {"Condition": "D"}]},
        "or": {"Fn::Or": [{"Condition": "C"}, {"Condition": "D"}]},
        "join": {"Fn::Join": ["", ["a", "b"]]},
        "select": {"Fn::Select": [0, {"Fn::GetAZs": ""}]},
        "split": {"Fn::Split": [",", "a,b"]},
        "map": {"Fn::FindInMap": ["M", "k1", "k2"]},
        "b64": {"Fn::Base64": "text"},
        "import": {"Fn::ImportValue": "shared-vpc"},
        "cidr": {"Fn::Cidr": ["10.0.0.0/16", 4, 8]},
    }


def test_loader_is_not_registered_globally() -> None:
    with pytest.raises(yaml.constructor.ConstructorError):
        yaml.safe_load("x: !Ref Y")


def test_dates_stay_strings(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text("Policy: {Version: 2012-10-17}\n")
    assert load_template(path) == {"Policy": {"Version": "2012-10-17"}}


def test_json_template_loads(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"Resources": {"Q": {"Type": "AWS::SQS::Queue"}}}, indent="\t"))
    assert load_template(path)["Resources"]["Q"]["Type"] == "AWS::SQS::Queue"


@pytest.mark.parametrize("text", ["- a list\n", "just text\n", "a: [unclosed\n"])
def test_not_a_template(tmp_path: Path, text: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(TemplateError, match=r"bad\.yaml"):
        load_template(path)


# ---- parameters and pseudo parameters ---------------------------------------------------------------


def test_parameter_default_and_override(template: dict[str, Any]) -> None:
    assert TemplateResolver(template, ctx()).parameter("Stage") == "dev"
    prod = TemplateResolver(template, ctx(parameters={"Stage": "prod"}))
    assert prod.parameter("Stage") == "prod"
    assert prod.condition("IsProd") is True


def test_unknown_override_names_are_rejected(template: dict[str, Any]) -> None:
    with pytest.raises(TemplateError, match="Stge, Zzz"):
        TemplateResolver(template, ctx(parameters={"Stge": "prod", "Zzz": "1", "Stage": "dev"}))


def test_missing_required_parameter(template: dict[str, Any]) -> None:
    with pytest.raises(TemplateError, match="'Required' has no Default"):
        TemplateResolver(template, ctx()).resolve({"Ref": "Required"})
    assert TemplateResolver(template, ctx(parameters={"Required": "x"})).resolve({"Ref": "Required"}) == "x"


def test_list_parameters(template: dict[str, Any]) -> None:
    resolver = TemplateResolver(template, ctx(parameters={"Subnets": "subnet-a"}))
    assert resolver.parameter("Ports") == ["22", "443"]
    assert resolver.parameter("Subnets") == ["subnet-a"]


def test_number_parameter_resolves_to_string(template: dict[str, Any]) -> None:
    assert TemplateResolver(template, ctx()).resolve({"Ref": "MaxPrefix"}) == "16"


def test_pseudo_parameters(template: dict[str, Any]) -> None:
    resolver = TemplateResolver(template, ctx(partition="aws-cn", stack_name="s1"))
    resolved = resolver.resolve([{"Ref": f"AWS::{n}"} for n in ("AccountId", "Region", "Partition",
                                                                  "StackName", "URLSuffix")])
    assert resolved == ["123456789012", "eu-west-1", "aws-cn", "s1", "amazonaws.com.cn"]
    stack_id = resolver.resolve({"Ref": "AWS::StackId"})
    assert stack_id.startswith("arn:aws-cn:cloudformation:eu-west-1:123456789012:stack/s1/")
    assert stack_id == TemplateResolver(template, ctx(partition="aws-cn", stack_name="s1")).resolve(
        {"Ref": "AWS::StackId"})
    assert TemplateResolver(template, ctx()).resolve({"Ref": "AWS::URLSuffix"}) == "amazonaws.com"


# ---- intrinsic functions ------------------------------------------------------------------------------


def test_ref_of_resources(template: dict[str, Any]) -> None:
    resolver = TemplateResolver(template, ctx())
    assert resolver.resolve({"Ref": "WorkQueue"}) == "https://sqs.local/work"
    assert resolver.resolve({"Ref": "Ids"}) == "Ids"  # not provisioned: the logical id stands in
    with pytest.raises(TemplateError, match="'Nope'"):
        resolver.resolve({"Ref": "Nope"})


def test_get_att(template: dict[str, Any]) -> None:
    resolver = TemplateResolver(template, ctx())
    assert resolver.resolve({"Fn::GetAtt": ["DeadLetter", "Arn"]}).endswith(":dlq")
    assert resolver.resolve({"Fn::GetAtt": "Topic.TopicName"}) == "topic"
    with pytest.raises(TemplateError, match=r"Table\.StreamArn: no local value; known attributes: Arn"):
        resolver.resolve({"Fn::GetAtt": ["Table", "StreamArn"]})
    with pytest.raises(TemplateError, match="no resource 'Ghost'"):
        resolver.resolve({"Fn::GetAtt": ["Ghost", "Arn"]})


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"Fn::Sub": "${AWS::Region}/${Stage}/${DeadLetter}"}, "eu-west-1/dev/https://sqs.local/dlq"),
        ({"Fn::Sub": "${WorkQueue.Arn}"}, "arn:aws:sqs:eu-west-1:123456789012:work"),
        ({"Fn::Sub": "${!Literal} ${ Stage }"}, "${Literal} dev"),
        ({"Fn::Sub": ["${A}-${B}", {"A": {"Ref": "Stage"}, "B": 7}]}, "dev-7"),
        ({"Fn::Join": ["-", ["a", {"Ref": "Stage"}, 3]]}, "a-dev-3"),
        ({"Fn::Join": [",", {"Ref": "Ports"}]}, "22,443"),
        ({"Fn::Select": ["1", {"Ref": "Ports"}]}, "443"),
        ({"Fn::Split": [",", "a,b,,c"]}, ["a", "b", "", "c"]),
        ({"Fn::FindInMap": ["StageMap", {"Ref": "Stage"}, "Greeting"]}, "hello"),
        ({"Fn::Base64": {"Fn::Sub": "${Stage}"}}, base64.b64encode(b"dev").decode()),
        ({"Fn::Equals": [{"Ref": "MaxPrefix"}, 16]}, True),
        ({"Fn::If": ["IsProd", "p", {"Fn::If": ["IsDev", "d", "x"]}]}, "d"),
        ({"Condition": "HasSsh"}, True),
        ({"Fn::And": [{"Condition": "IsDev"}, {"Fn::Not": [{"Condition": "IsProd"}]}]}, True),
        ({"Fn::Or": [{"Condition": "IsProd"}, {"Fn::Equals": ["a", "b"]}]}, False),
    ],
    ids=["sub-ref", "sub-getatt", "sub-literal", "sub-vars", "join", "join-list-param", "select",
         "split", "find-in-map", "base64", "equals-number", "nested-if", "condition", "and-not", "or"],
)
def test_intrinsics(template: dict[str, Any], value: Any, expected: Any) -> None:
    assert TemplateResolver(template, ctx()).resolve(value) == expected


def test_no_value_removes_keys_and_list_items(template: dict[str, Any]) -> None:
    no_value = {"Ref": "AWS::NoValue"}
    resolver = TemplateResolver(template, ctx())
    assert resolver.resolve({"a": no_value, "b": {"Fn::If": ["IsProd", 1, no_value]}, "c": 2}) == {"c": 2}
    assert resolver.resolve([1, no_value, {"Fn::If": ["IsDev", no_value, 3]}]) == [1]
    assert resolver.resolve(no_value) is None


def test_iam_condition_blocks_are_not_intrinsics(template: dict[str, Any]) -> None:
    block = {"Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}}
    assert TemplateResolver(template, ctx()).resolve(block) == {
        "Condition": {"StringEquals": {"aws:SourceAccount": "123456789012"}}}


def test_resolve_does_not_mutate(template: dict[str, Any]) -> None:
    before = json.dumps(template, sort_keys=True)
    TemplateResolver(template, ctx()).resolve(template["Resources"])
    assert json.dumps(template, sort_keys=True) == before


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"Fn::ImportValue": "shared"}, "Fn::ImportValue is not supported locally"),
        ({"Fn::GetAZs": ""}, "not supported locally"),
        ({"Fn::FindInMap": ["StageMap", "qa", "Greeting"]}, r"StageMap\.qa\.Greeting"),
        ({"Fn::Select": [5, ["a"]]}, "index 5"),
        ({"Fn::Join": [","]}, "Fn::Join takes a list of 2"),
        ({"Fn::Sub": "${Ports}"}, r"Fn::Sub \$\{Ports\}"),
        ({"Condition": "Nope"}, "unknown condition 'Nope'"),
    ],
    ids=["import-value", "get-azs", "find-in-map-miss", "select-range", "join-arity", "sub-list",
         "condition"],
)
def test_resolution_errors(template: dict[str, Any], value: Any, message: str) -> None:
    with pytest.raises(TemplateError, match=message):
        TemplateResolver(template, ctx()).resolve(value)


def test_conditions_are_memoised_and_cycles_reported(template: dict[str, Any]) -> None:
    resolver = TemplateResolver(template, ctx())
    assert resolver.condition("DevWithSsh") is True
    template["Conditions"]["IsProd"] = {"Fn::Equals": ["x", "x"]}  # too late: already evaluated
    assert resolver.condition("IsProd") is False
    looping = {"Conditions": {"A": {"Fn::Not": [{"Condition": "B"}]}, "B": {"Fn::Not": [{"Condition": "A"}]}}}
    with pytest.raises(TemplateError, match="depends on itself"):
        TemplateResolver(looping, ctx()).condition("A")


# ---- functions ---------------------------------------------------------------------------------------


def test_functions_merge_globals(template: dict[str, Any], template_path: Path) -> None:
    specs = functions(template, TemplateResolver(template, ctx()))
    assert set(specs) == {"Guard", "ProdOnly"}
    guard = specs["Guard"]
    base = template_path.parent
    assert guard.handler == "app.lambda_handler"
    assert guard.code_uri == base / "functions" / "guard"
    assert guard.code_uri.is_absolute()
    assert (guard.runtime, guard.timeout, guard.memory_size, guard.architectures) == (
        "python3.12", 30, 256, ("arm64",))
    assert guard.layers == ("SharedLayer", "arn:aws:lambda:eu-west-1:017000801446:layer:Powertools:3")
    assert guard.layer_paths == (base / "layers" / "shared",)
    assert guard.condition is None
    assert guard.deployed is True
    assert guard.environment == {
        "STAGE": "dev",
        "TABLE": "eksguard-local-dev-audit",
        "SHARED": "from-function",
        "QUEUE_ARN": "arn:aws:sqs:eu-west-1:123456789012:work",
        "DLQ_URL": "https://sqs.local/dlq",
        "DLQ_ARN": "arn is arn:aws:sqs:eu-west-1:123456789012:dlq",
        "JOINED": "22|443",
        "SECOND": "b",
        "GREETING": "hello, eu-west-1! ${Literal}",
        "B64": "aGVsbG8=",
        "URL": "https://sqs.eu-west-1.amazonaws.com/123456789012",
        "TOPIC_NAME": "topic",
        "DEV_WITH_SSH": "yes",
        "NUMBER": "16",
        "FLAG": "true",
    }


def test_conditional_function_is_listed_but_not_deployed(template: dict[str, Any]) -> None:
    prod_only = functions(template, TemplateResolver(template, ctx()))["ProdOnly"]
    assert (prod_only.condition, prod_only.deployed) == ("IsProd", False)
    assert prod_only.architectures == ("x86_64",)  # replaced, not appended: a function has one
    assert prod_only.environment["STAGE"] == "overridden"  # maps merge key by key, the function winning
    assert prod_only.environment["SHARED"] == "from-globals"
    prod = TemplateResolver(template, ctx(parameters={"Stage": "prod"}))
    assert functions(template, prod)["ProdOnly"].deployed is True
    assert functions(template, prod)["Guard"].environment["ONLY_PROD"] == "prod-only"


def test_event_rules(template: dict[str, Any]) -> None:
    rules = {r.name: r for r in functions(template, TemplateResolver(template, ctx()))["Guard"].event_rules}
    assert set(rules) == {"Trail", "Nightly", "Hourly"}  # the Api event is not EventBridge's
    trail = rules["Trail"]
    assert trail.pattern == {
        "source": ["aws.ec2"],
        "detail": {
            "errorCode": [{"exists": False}],
            "$or": [
                {"invokedBy": [{"exists": False}]},
                {"invokedBy": [{"anything-but": {"prefix": "aws."}}]},
            ],
        },
    }
    assert trail.retry_policy == {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 3600}
    assert trail.dead_letter == {"Arn": "arn:aws:sqs:eu-west-1:123456789012:dlq"}
    assert (trail.enabled, trail.schedule) == (True, None)
    assert (rules["Nightly"].pattern, rules["Nightly"].schedule, rules["Nightly"].enabled) == (
        None, "rate(1 day)", False)
    assert (rules["Hourly"].schedule, rules["Hourly"].enabled) == ("rate(1 hour)", True)


def test_functions_of_a_plain_dict_need_base_dir(template: dict[str, Any], tmp_path: Path) -> None:
    plain = dict(template)
    with pytest.raises(TemplateError, match="base_dir"):
        functions(plain, TemplateResolver(plain, ctx()))
    specs = functions(plain, TemplateResolver(plain, ctx()), base_dir=tmp_path / "elsewhere")
    assert specs["Guard"].code_uri == tmp_path / "elsewhere" / "functions" / "guard"


# ---- stateful resources --------------------------------------------------------------------------------


def test_stateful_resources_order_and_lazy_properties(template: dict[str, Any]) -> None:
    bare = ctx(physical={})
    specs = stateful_resources(template, TemplateResolver(template, bare))
    order = [s.logical_id for s in specs]
    assert sorted(order) == ["DeadLetter", "Ids", "ProdSecret", "Table", "Topic", "WorkQueue"]
    assert order.index("DeadLetter") < order.index("WorkQueue")  # the DLQ is declared after its user
    by_id = {s.logical_id: s for s in specs}
    assert by_id["WorkQueue"].depends_on == ("DeadLetter",)
    assert (by_id["ProdSecret"].condition, by_id["ProdSecret"].deployed) == ("IsProd", False)
    assert by_id["Ids"].type == "AWS::Serverless::SimpleTable"
    assert by_id["Ids"].raw_properties["SSESpecification"] == {"SSEEnabled": True}  # Globals.SimpleTable

    with pytest.raises(TemplateError, match=r"DeadLetter\.Arn"):
        by_id["WorkQueue"].properties(TemplateResolver(template, bare))
    after_dlq = ctx(physical={"DeadLetter": PHYSICAL["DeadLetter"]})
    assert by_id["WorkQueue"].properties(TemplateResolver(template, after_dlq)) == {
        "QueueName": "eksguard-local-work",
        "RedrivePolicy": {"deadLetterTargetArn": PHYSICAL["DeadLetter"]["Arn"], "maxReceiveCount": 3},
    }
    assert by_id["DeadLetter"].properties(TemplateResolver(template, bare)) == {}


def test_stateful_cycle_is_reported(template: dict[str, Any]) -> None:
    tags = [{"Key": "k", "Value": {"Ref": "WorkQueue"}}]
    template["Resources"]["DeadLetter"]["Properties"] = {"Tags": tags}
    with pytest.raises(TemplateError, match="cycle"):
        stateful_resources(template, TemplateResolver(template, ctx()))
