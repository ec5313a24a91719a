"""The Kubernetes chapter of ``eksguard local demo``: what is inside cluster demo (aws-auth, the Calico policies,
annotated ServiceAccounts) as the Kubernetes API stand-in serves it; a node group whose pods can reach IMDS; the
sweep reading every cluster's API read-only (K8-000 ... K8-004) and subscribing their audit logs; the K8 rows of
``eksguard scan``; then an aws-auth edit that never reaches CloudTrail, arriving as the control-plane audit log's
CloudWatch Logs subscription batch (events/k8s-audit-aws-auth-patch.json) on KubeGuardFunction."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, TextIO

import yaml

from eksguard import clock
from eksguard.aws.clients import Aws
from eksguard.config import Config
from eksguard.config_eks import EksConfig
from eksguard.local import audit_log
from eksguard.local.demo_context import DemoContext, print_alerts, published, subscribe
from eksguard.local.invoke import Invocation, invoke, load_app
from eksguard.local.kube_standin import KubeStandin
from eksguard.local.seed import DEMO_CLUSTER, OFFICE_CIDR
from eksguard.local.seed_kube import KUBE_RANDOM_SEED, aws_auth, seed_imds_node_group
from eksguard.local.standin import seed_random
from eksguard.pipeline.scan import scan

K8_EVENT = "k8s-audit-aws-auth-patch"


def kubernetes_chapter(demo: DemoContext) -> bool:
    kube, out = demo.kube, demo.out
    if kube is None:
        raise ValueError("the Kubernetes chapter needs the Kubernetes API stand-in (DemoContext.kube)")
    account = demo.app.context.account_id
    mode = str(demo.app.context.parameters.get("Mode", "audit"))
    # The cluster chapter's parameters, with the K8 family on (the template's default) and EnforceImdsv2 off: the
    # GPU node group keeps hop limit 2 on purpose.
    app = load_app(demo.app.template_path, {"Mode": mode, "TrustedCidrs": OFFICE_CIDR}, demo.session)
    queue = subscribe(demo.session, app.context.physical["AlertTopic"]["Ref"], "demo-k8s-alert-subscriber")
    print(f"== Inside the clusters: the Kubernetes API, read-only (Mode={mode}; K8-000 ... K8-004 alert only)",
          file=out)
    print(f"Cluster {DEMO_CLUSTER} as kubectl left it (served by the Kubernetes API stand-in, "
          f"{kube.url(DEMO_CLUSTER)}):", file=out)
    _print_cluster(out, kube, DEMO_CLUSTER)
    seed_random(os.environ["AWS_ENDPOINT_URL"], KUBE_RANDOM_SEED)
    seed_imds_node_group(demo.session, demo.acct)
    print("- node group demo-gpu added: launch template demo-gpu-nodes, IMDSv2 but hop limit 2 (\"its pods need "
          "IMDS\")", file=out)

    swept = invoke(app, "SweepFunction", json.loads((demo.events / "scheduled-sweep.json").read_text()))
    print("\nThe scheduled sweep (events/scheduled-sweep.json): every cluster's API read, the K8 rules with the rest:",
          file=out)
    if not swept.ok:
        print(f"    ERROR {swept.error}", file=out)
        return False
    counts = swept.response["extra"]
    print(f"    {counts['new']} new since the last sweep; open K8: "
          f"{', '.join(f'{r} {n}' for r, n in counts['by_rule'].items() if r.startswith('K8'))}", file=out)
    for a in swept.response["actions"]:
        if a["rule_id"].startswith(("K8", "EK-004")):
            print(f"    {a['rule_id']} {a['severity']:<7} {a['action']:<11} {a['detail'][:110]}", file=out)
    for cluster, done in sorted(counts.get("audit_subscriptions", {}).items()):
        print(f"    audit log /aws/eks/{cluster}/cluster -> KubeGuardFunction: {done}", file=out)

    report = scan(Aws(demo.session.region_name, demo.session), [str(demo.session.region_name)], Config.from_env({}),
                  EksConfig.from_env({}), clock.today(), include_global=False)
    k8 = replace(report, findings=tuple(f for f in report.findings if f.rule_id.startswith("K8")), trails=())
    print("\neksguard scan, the K8 rows:", file=out)
    print(demo.render_scan(k8), file=out)

    ok = _audit_log_path(demo, app, kube, account, out)
    print_alerts(out, "Alerts published on the SNS topic in this chapter", published(demo.session, queue))
    methods = Counter(r.method for r in kube.requests)
    print(f"\nRequests eksguard made to the clusters' Kubernetes APIs: {sum(methods.values())} "
          f"({', '.join(f'{n} {m}' for m, n in sorted(methods.items()))}); "
          f"{sum(n for m, n in methods.items() if m != 'GET')} writes.\n", file=out)
    return ok and swept.ok


def _audit_log_path(demo: DemoContext, app: Any, kube: KubeStandin, account: str, out: TextIO) -> bool:
    kube.clusters[DEMO_CLUSTER].apply(aws_auth(account, karpenter_masters=True))
    print("\nkubectl edit configmap aws-auth -n kube-system: system:masters added to KarpenterNodeRole-demo's mapping "
          "(invisible to CloudTrail)", file=out)
    event = json.loads((demo.events / f"{K8_EVENT}.json").read_text())
    logged = json.loads(audit_log.decode(event)["logEvents"][0]["message"])
    print(f"The audit log line, delivered by the subscription filter (events/{K8_EVENT}.json): "
          f"{logged['user']['extra']['arn'][0]} {logged['verb']} {logged['requestURI']}", file=out)
    patched = invoke(app, "KubeGuardFunction", event)
    _print_invocation(out, "KubeGuardFunction", patched)
    noise = audit_log.encode(audit_log.batch(account, DEMO_CLUSTER, [
        audit_log.audit_event(account, "get", "configmaps", namespace="kube-system", name="aws-auth"),
        audit_log.audit_event(account, "patch", "configmaps", namespace="kube-system", name="aws-auth", code=403,
                              request={"data": {"mapUsers": "[]"}}),
        audit_log.audit_event(account, "create", "pods", namespace="app")]))
    print("A batch with a read of aws-auth, a refused patch of it and a pod created:", file=out)
    skipped = invoke(app, "KubeGuardFunction", noise)
    _print_invocation(out, "KubeGuardFunction", skipped)
    return patched.ok and skipped.ok


def _print_invocation(out: TextIO, function: str, inv: Invocation) -> None:
    if not inv.ok:
        print(f"    {function}: ERROR {inv.error}", file=out)
        return
    resp = inv.response
    writes = "; ".join((resp.get("extra") or {}).get("writes", []))
    print(f"    {function}: {resp['status']}, {resp['findings']} finding(s)"
          f"{' - ' + resp['reason'] if resp.get('reason') else ''}{' (writes: ' + writes + ')' if writes else ''}",
          file=out)
    for a in resp.get("actions", []):
        print(f"    {a['rule_id']} {a['severity']:<7} {a['action']:<11} {a['detail'][:110]}", file=out)


def _print_cluster(out: TextIO, kube: KubeStandin, name: str) -> None:
    objects = kube.clusters[name].objects
    auth = next(o for o in objects[("", "v1", "configmaps")] if o["metadata"]["name"] == "aws-auth")
    for key, kind, arn_key in (("mapRoles", "role", "rolearn"), ("mapUsers", "user", "userarn")):
        for m in yaml.safe_load(auth["data"].get(key) or "[]"):
            print(f"  aws-auth {kind:<4} {m[arn_key].rsplit('/', 1)[-1]:<24} -> {', '.join(m['groups'])}", file=out)
    for p in objects.get(("crd.projectcalico.org", "v1", "globalnetworkpolicies"), []):
        spec: Mapping[str, Any] = p["spec"]
        rules = "; ".join(f"{r['action']}" + (f" to {', '.join(r['destination']['nets'])}" if r.get("destination")
                                               else " all") for r in spec["egress"])
        print(f"  Calico GlobalNetworkPolicy {p['metadata']['name']} (order {spec['order']:g}, egress: {rules}), "
              f"selector {spec['selector']}", file=out)
    for sa in objects[("", "v1", "serviceaccounts")]:
        role = (sa["metadata"].get("annotations") or {}).get("eks.amazonaws.com/role-arn")
        if role:
            print(f"  ServiceAccount {sa['metadata']['namespace']}/{sa['metadata']['name']} -> role "
                  f"{role.rsplit('/', 1)[-1]}", file=out)
