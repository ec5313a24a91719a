"""The cluster chapter of ``eksguard local demo``: a second cluster made the quick way (public endpoint
open to the world, logging off, secrets unencrypted, nodes on an IMDSv1 launch template), a contractor made
cluster admin, each event replayed through the template's own patterns; then the scheduled sweep catches
what no event reported, and an ``eksguard scan`` table shows the posture that is left."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

from eksguard import clock
from eksguard.aws.clients import Aws
from eksguard.config import Config
from eksguard.config_eks import EksConfig
from eksguard.local.demo_context import DemoContext, Scenario, print_routed
from eksguard.local.invoke import invoke, load_app
from eksguard.local.replay import Routed, replay
from eksguard.local.seed import OFFICE_CIDR, POSTURE_RANDOM_SEED, PostureAccount, seed_cluster_posture
from eksguard.local.standin import seed_random
from eksguard.pipeline.scan import scan

ADMIN_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
Mistake = Callable[[Any, PostureAccount, DemoContext], None]


def _nothing(session: Any, posture: PostureAccount, demo: DemoContext) -> None:
    """The state the event describes is already in the seeded account (or the call failed)."""


def _demo_logging_off(session: Any, posture: PostureAccount, demo: DemoContext) -> None:
    session.client("eks").update_cluster_config(name="demo", logging={"clusterLogging": [
        {"types": ["api", "audit", "authenticator"], "enabled": False}]})


def _demo_endpoint_world(session: Any, posture: PostureAccount, demo: DemoContext) -> None:
    session.client("eks").update_cluster_config(name="demo", resourcesVpcConfig={
        "endpointPublicAccess": True, "publicAccessCidrs": ["0.0.0.0/0"]})


def _contractor_entry(session: Any, posture: PostureAccount, demo: DemoContext) -> None:
    session.client("eks").create_access_entry(clusterName=posture.cluster, principalArn=posture.contractor_role_arn)


def _contractor_admin(session: Any, posture: PostureAccount, demo: DemoContext) -> None:
    session.client("eks").associate_access_policy(clusterName=posture.cluster, principalArn=posture.contractor_role_arn,
                                                  policyArn=ADMIN_POLICY, accessScope={"type": "cluster"})


def _hop_limit_2(session: Any, posture: PostureAccount, demo: DemoContext) -> None:
    session.client("ec2").create_launch_template_version(
        LaunchTemplateId=demo.acct.launch_template_id, SourceVersion="1", VersionDescription="pods need IMDS",
        LaunchTemplateData={"MetadataOptions": {"HttpTokens": "required", "HttpPutResponseHopLimit": 2}})


def _node_imds_optional(session: Any, posture: PostureAccount, demo: DemoContext) -> None:
    session.client("ec2").modify_instance_metadata_options(InstanceId=posture.node_instance_id, HttpTokens="optional",
                                                           HttpPutResponseHopLimit=2)


SCENARIOS: tuple[Scenario[Mistake], ...] = (
    Scenario("ec2-create-launch-template-imdsv1", "node template legacy-nodes allows IMDSv1, hop limit 2", _nothing),
    Scenario("eks-create-nodegroup-imdsv1-template", "node group legacy-ng launches from it ($Default)", _nothing),
    Scenario("eks-create-cluster-public-no-logging", "cluster legacy: endpoint open to the world, logging off, "
             "secrets unencrypted", _nothing),
    Scenario("eks-update-cluster-config-logging-off", "cluster demo: control-plane logging turned off",
             _demo_logging_off),
    Scenario("eks-update-cluster-config-endpoint-world", "cluster demo: endpoint opened to 0.0.0.0/0 again",
             _demo_endpoint_world),
    Scenario("eks-create-access-entry-contractor", "an access entry for contractor-admin on legacy",
             _contractor_entry),
    Scenario("eks-associate-access-policy-cluster-admin", "... made cluster admin (URL-encoded principal)",
             _contractor_admin),
    Scenario("ec2-create-launch-template-version-hop-limit-2", "demo-nodes version 2 with hop limit 2 "
             "(no node group uses it)", _hop_limit_2),
    Scenario("ec2-modify-instance-metadata-options-node-optional", "a legacy node switched back to IMDSv1",
             _node_imds_optional),
    Scenario("eks-delete-cluster", "an old cluster deleted", _nothing),
    Scenario("eks-create-cluster-failed-access-denied", "a CreateCluster that was denied (errorCode)", _nothing),
    Scenario("eks-update-cluster-config-by-eksguard-itself", "eksguard's own update coming back as an event",
             _nothing),
    Scenario("ec2-modify-instance-metadata-options-failed", "a failed metadata-options call", _nothing),
)


def cluster_chapter(demo: DemoContext) -> bool:
    seed_random(os.environ["AWS_ENDPOINT_URL"], POSTURE_RANDOM_SEED)
    posture = seed_cluster_posture(demo.session, demo.acct)
    mode = str(demo.app.context.parameters.get("Mode", "audit"))
    overrides = {"Mode": mode, "TrustedCidrs": OFFICE_CIDR, "EnforceImdsv2": "true"}
    app = load_app(demo.app.template_path, overrides, demo.session)
    out = demo.out
    print(f"== Cluster posture (Mode={mode}, TrustedCidrs={OFFICE_CIDR}, EnforceImdsv2=true)", file=out)
    routed: list[tuple[Scenario[Mistake], Routed]] = []
    for scenario in SCENARIOS:
        scenario.mistake(demo.session, posture, demo)
        event = json.loads((demo.events / f"{scenario.event_file}.json").read_text())
        routed.append((scenario, replay(app, scenario.event_file, event)))
    ok = print_routed(out, routed, lambda a: f"{a['rule_id']} {a['severity']:<8} {a['action']:<27} {a['detail'][:100]}")

    sweep_event = json.loads((demo.events / "scheduled-sweep.json").read_text())
    swept = invoke(app, "SweepFunction", sweep_event)
    print("\nThe scheduled sweep (events/scheduled-sweep.json) over the whole region:", file=out)
    if not swept.ok:
        print(f"    ERROR {swept.error}", file=out)
        return False
    counts = swept.response["extra"]
    print(f"    {counts['remediated']} remediated, {counts['open']} open, {counts['new']} new "
          f"(by rule: {', '.join(f'{r} {n}' for r, n in counts['by_rule'].items())})", file=out)
    for a in swept.response["actions"]:
        if a["action"] not in ("alert-only", "exempt"):
            print(f"    {a['rule_id']} {a['action']:<27} {a['resource_id']}", file=out)

    print("\nPosture after remediation (eksguard scan):", file=out)
    report = scan(Aws(demo.session.region_name, demo.session), [str(demo.session.region_name)],
                  Config.from_env({}), EksConfig.from_env({}), clock.today())
    print(demo.render_scan(report), file=out)
    return ok
