"""The IRSA chapter of ``eksguard local demo``: the seed document's aws-node role with the aud typo, a
role open to every service account, a role for an unknown service account, a cluster recreated under its
roles' feet, and the IAM posture around them - each event replayed through the template's own patterns.

IAM events arrive in us-east-1, so they go to the stack as deployed there (IrsaGuardFunction); the EKS
CreateCluster event goes to the cluster's region (IrsaRefreshFunction)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any, TextIO

import boto3

from eksguard.local.demo_context import (
    DemoContext,
    Scenario,
    print_alerts,
    print_routed,
    published,
    related,
    subscribe,
)
from eksguard.local.invoke import LocalApp, load_app, reset_warm
from eksguard.local.replay import Routed, replay
from eksguard.local.seed import EKS_CA_THUMBPRINT, IAM_REGION, IRSA_RANDOM_SEED, IrsaAccount, seed_irsa
from eksguard.local.standin import seed_random
from eksguard.snapshot.irsa import parse_trust, provider_issuer

Mistake = Callable[[Any, IrsaAccount], None]
DEMO_ROLES = ("demo-aws-node", "demo-app-api", "demo-reports", "payments-api")


def _nothing(iam: Any, irsa: IrsaAccount) -> None:
    """The state the event describes is already in the seeded account (or the call failed)."""


def _delete_old_provider(iam: Any, irsa: IrsaAccount) -> None:
    arn = f"arn:aws:iam::{irsa.account}:oidc-provider/{irsa.payments_old_issuer}"
    iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=arn)


def _create_new_provider(iam: Any, irsa: IrsaAccount) -> None:
    iam.create_open_id_connect_provider(Url=f"https://{irsa.payments_issuer}", ClientIDList=["sts.amazonaws.com"],
                                        ThumbprintList=[EKS_CA_THUMBPRINT])


def _attach_cni_to_node_role(iam: Any, irsa: IrsaAccount) -> None:
    iam.attach_role_policy(RoleName=irsa.node_role, PolicyArn="arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy")


def _hmj_eks_star(iam: Any, irsa: IrsaAccount) -> None:
    iam.create_policy_version(PolicyArn=irsa.hmj_policy_arn, SetAsDefault=True, PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Sid": "EksFullAccess", "Effect": "Allow", "Action": ["eks:*"],
                                                 "Resource": "*"}]}))


def _ci_star(iam: Any, irsa: IrsaAccount) -> None:
    iam.put_role_policy(RoleName=irsa.ci_role, PolicyName="deploy-everything", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))


IrsaScenario = Scenario[Mistake]


SCENARIOS: tuple[IrsaScenario, ...] = (
    IrsaScenario("iam-create-role-aws-node-aud-typo", "the seed document's aws-node role, aud sts.amazon.com (typo)",
                 _nothing),
    IrsaScenario("iam-update-trust-wildcard-sub-app-api", "demo-app-api trusts system:serviceaccount:*:* "
                 "(tagged eksguard:service-account=app/api)", _nothing),
    IrsaScenario("iam-create-role-reports-no-sub", "demo-reports has no sub condition and no tag: service account "
                 "unknown", _nothing),
    IrsaScenario("irsa-eks-create-cluster-payments-recreated", "cluster payments recreated: new issuer, payments-api "
                 "still on the old one, no IAM OIDC provider yet", _nothing),
    IrsaScenario("iam-delete-oidc-provider-payments-old", "the orphaned provider of the old payments issuer deleted",
                 _delete_old_provider),
    IrsaScenario("iam-create-oidc-provider-payments", "the IAM OIDC provider for the new payments issuer created",
                 _create_new_provider),
    IrsaScenario("iam-attach-role-policy-cni-node-role", "AmazonEKS_CNI_Policy attached to the node role too",
                 _attach_cni_to_node_role),
    IrsaScenario("iam-create-policy-version-hmj-eks-user", "HMJ-EKS-USER-POLICY v2 grants eks:* on * (user "
                 "hmj-eks-user)", _hmj_eks_star),
    IrsaScenario("iam-put-role-policy-star-ci-deployer", "an inline * on * policy on demo-ci-deployer", _ci_star),
    IrsaScenario("iam-update-trust-failed-access-denied", "a failed UpdateAssumeRolePolicy (errorCode)", _nothing),
    IrsaScenario("iam-update-trust-by-eksguard-itself", "eksguard's own trust rewrite coming back as an event",
                 _nothing),
)


def iam_app(demo: DemoContext) -> LocalApp:
    """The stack as deployed in us-east-1, where the IAM rule exists."""
    return load_app(demo.app.template_path, dict(demo.app.context.parameters),
                    boto3.session.Session(region_name=IAM_REGION))


def irsa_chapter(demo: DemoContext) -> bool:
    app = iam_app(demo)
    queue = subscribe(boto3.session.Session(region_name=IAM_REGION), app.context.physical["AlertTopic"]["Ref"],
                      "demo-irsa-alert-subscriber")
    seed_random(os.environ["AWS_ENDPOINT_URL"], IRSA_RANDOM_SEED)
    irsa = seed_irsa(demo.session)
    iam = demo.session.client("iam", region_name=IAM_REGION)
    before = {name: trust_summary(iam, name) for name in DEMO_ROLES}
    routed: list[tuple[IrsaScenario, Routed]] = []
    previous = app
    for scenario in SCENARIOS:
        scenario.mistake(iam, irsa)
        event = json.loads((demo.events / f"{scenario.event_file}.json").read_text())
        target = app if event["region"] == IAM_REGION else demo.app
        if target is not previous:
            # Another region is another Lambda environment: a warm handler must not keep the other
            # region's clients (in-process invokes share eksguard's client cache).
            reset_warm()
        previous = target
        routed.append((scenario, replay(target, scenario.event_file, event)))
    out = demo.out
    print("== IRSA trust policies (IAM events in us-east-1, clusters in ap-northeast-2)", file=out)
    _print_trusts(out, before, {name: trust_summary(iam, name) for name in DEMO_ROLES})
    _print_routed(out, routed)
    print_alerts(out, "IRSA and IAM alerts published on the us-east-1 SNS topic",
                 published(boto3.session.Session(region_name=IAM_REGION), queue))
    print(file=out)
    return all(d.invocation.ok for _, r in routed for d in r.deliveries)


def trust_summary(iam: Any, role: str) -> dict[str, str]:
    """Issuer (id only), aud and sub of a role's first IRSA statement, for the before/after table."""
    doc = iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]
    stmt = parse_trust(doc).irsa_statements[0]
    issuer = provider_issuer(stmt.provider_arns[0]) or "?"
    claims: dict[str, list[str]] = {"aud": [], "sub": []}
    for cond in stmt.conditions:
        if cond.claim in claims and cond.issuer_key == issuer.lower():
            op = "like " if cond.like else ""
            claims[cond.claim] += [op + v for v in cond.values]
    return {"issuer": issuer.rsplit("/", 1)[-1][:8] + "...", "aud": ", ".join(claims["aud"]) or "(none)",
            "sub": ", ".join(claims["sub"]) or "(none)"}


def _print_trusts(out: TextIO, before: dict[str, dict[str, str]], after: dict[str, dict[str, str]]) -> None:
    print("Trust conditions before -> after (issuer id, aud, sub):", file=out)
    for name in before:
        print(f"  {name}", file=out)
        for key in ("issuer", "aud", "sub"):
            b, a = before[name][key], after[name][key]
            mark = "   (unchanged)" if a == b else "   <- eksguard"
            print(f"    {key:<6} {b:<44} -> {a}{mark}", file=out)
    print(file=out)


def _print_routed(out: TextIO, routed: list[tuple[IrsaScenario, Routed]]) -> None:
    print("Events replayed through the template's EventBridge patterns:", file=out)
    print_routed(out, routed, lambda a: f"{a['rule_id']}{related(a)} {a['severity']:<8} {a['action']:<13} "
                                        f"{a['resource_id']}", shown=lambda rule: rule.startswith("Irsa"))
    print(file=out)
