"""The demo's organization chapter: two member accounts forward their findings to the security account's
central bus, whose notifier posts one Slack stream labelled with each member's alias, account and region.

Every hop is the template's own resource, provisioned into the stand-in (member outbox bus, forwarding rule,
central bus, central rule). moto cannot invoke a Lambda function from a rule: the central rule gets an SQS
target here, and the chapter hands what arrives there to the central notifier, as EventBridge would.
"""

from __future__ import annotations

import json

import boto3

from eksguard.alert.slack import render_text
from eksguard.local.demo_context import DemoContext, drain, queue
from eksguard.local.demo_slack import lambda_sns_event
from eksguard.local.invoke import Invocation, LocalApp, invoke, load_app
from eksguard.local.replay import replay
from eksguard.local.seed import DEMO_REGION, DemoAccount, seed_demo
from eksguard.local.slack_receiver import slack_receiver

CENTRAL, CENTRAL_REGION, ORG_ID = "111122223333", "us-east-1", "o-eksguarddemo"
MEMBER_B = "333344445555"
EVENT = "sg-ingress-ssh-world-grouped-node"


def assume_account(session: boto3.session.Session, account: str, region: str) -> boto3.session.Session:
    """A session in ``account``: the stand-in maps the credentials AssumeRole returns to the role's account."""
    creds = session.client("sts").assume_role(RoleArn=f"arn:aws:iam::{account}:role/eksguard-local",
                                              RoleSessionName="eksguard-local")["Credentials"]
    return boto3.session.Session(aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                                 aws_session_token=creds["SessionToken"], region_name=region)


def stream_queue(central: boto3.session.Session, app: LocalApp) -> str:
    """The SQS queue standing in for the central notifier as the target of the template's CentralStreamRule."""
    url, arn = queue(central, "central-stream")
    central.client("events").put_targets(Rule=app.context.physical["CentralStreamRule"]["Ref"],
                                         EventBusName=app.context.physical["FindingsBus"]["Ref"],
                                         Targets=[{"Id": "StandsInForTheNotifier", "Arn": arn}])
    return url


def org_chapter(demo: DemoContext) -> bool:
    print("== Organization: every member's findings in one central Slack stream", file=demo.out)
    central = assume_account(demo.session, CENTRAL, CENTRAL_REGION)
    with slack_receiver() as receiver:
        secret = central.client("secretsmanager").create_secret(Name="eksguard/slack", SecretString=receiver.url)
        central_app = load_app(demo.app.template_path, {"CentralOrganizationId": ORG_ID,
                                                        "SlackWebhookSecretArn": secret["ARN"]}, central)
        stream = stream_queue(central, central_app)
        bus = central_app.context.physical["FindingsBus"]["Arn"]
        print(f"central stack: account {CENTRAL}, {CENTRAL_REGION}, bus {bus} (organization {ORG_ID} only)",
              file=demo.out)
        b = assume_account(demo.session, MEMBER_B, DEMO_REGION)
        members = [(demo.session, "platform-demo", demo.acct), (b, "team-b-prod", seed_demo(b))]
        runs = [run for session, alias, acct in members
                for run in _member(demo, session, alias, acct, bus)]
        arrived = drain(central, stream)
        runs += [invoke(central_app, "NotifierFunction", event) for event in arrived]
        print(f"{len(arrived)} finding(s) arrived on the central bus; the central notifier posted "
              f"{len(receiver.payloads)} Slack message(s):\n", file=demo.out)
        for payload in receiver.payloads:
            print("\n".join(f"    {line}" for line in render_text(payload).splitlines()), file=demo.out)
            print(file=demo.out)
        failures = [r for r in runs if not r.ok]
        for failure in failures:
            print(f"  {failure.function} ERROR {failure.error}", file=demo.out)
    return not failures and len(arrived) == len(members) == len(receiver.payloads)


def _member(demo: DemoContext, session: boto3.session.Session, alias: str, acct: DemoAccount,
            bus: str) -> list[Invocation]:
    """One member: world-open SSH on its node group, the guard revokes it, its notifier forwards the alert."""
    account = session.client("sts").get_caller_identity()["Account"]
    session.client("iam").create_account_alias(AccountAlias=alias)
    app = load_app(demo.app.template_path, {**demo.app.context.parameters, "CentralEventBusArn": bus}, session)
    url, arn = queue(session, "org-demo-subscriber")
    session.client("sns").subscribe(TopicArn=app.context.physical["AlertTopic"]["Ref"], Protocol="sqs", Endpoint=arn)
    session.client("ec2").authorize_security_group_ingress(GroupId=acct.node_sg, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0",
                                                                        "Description": "temp debug"}]}])
    text = (demo.events / f"{EVENT}.json").read_text()
    original = json.loads(text)
    # The same CloudTrail event, as this account would emit it about its own node group, a new event id.
    text = text.replace(original["account"], account).replace(original["detail"]["requestParameters"]["groupId"],
                                                              acct.node_sg)
    event = json.loads(text.replace(original["detail"]["eventID"], f"org-demo-{account}"))
    guards = [d.invocation for d in replay(app, EVENT, event).deliveries]
    notified = [invoke(app, "NotifierFunction", lambda_sns_event(n, f"{arn}:org-demo")) for n in drain(session, url)]
    forwarded = sum(1 for n in notified if n.ok for r in n.response["results"] if r.get("forwarded"))
    print(f"member {alias} ({account}), {DEMO_REGION}: SSH from 0.0.0.0/0 on {acct.node_sg} -> "
          f"{', '.join(a['action'] for g in guards if g.ok for a in g.response.get('actions', []))}; "
          f"{forwarded} finding(s) forwarded to the central bus", file=demo.out)
    return guards + notified
