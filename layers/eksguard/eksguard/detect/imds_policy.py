"""Can some pod of a namespace reach IMDS (TCP 169.254.169.254:80), given the cluster's network policies?

Evaluated as Calico evaluates one tier (Kubernetes NetworkPolicies are Calico policies of order 1000 in the
default tier, whose allow-list semantics this reproduces when no Calico policy is installed):
- policies that select the endpoint for Egress, in ascending ``order`` (none: last), then by name;
- in a policy, the first rule that matches decides: Allow, Deny, or Pass (to the profile: allowed); Log goes on;
- no rule matched: on to the next policy; end of tier: denied if some policy selected the endpoint, else the
  namespace profile allows.

eksguard reads namespaces, not pods, so the question is "is EVERY pod of the namespace denied". A selector
that depends on pod labels (a NetworkPolicy whose podSelector is not ``{}``, a Calico selector on an app label)
is unknown, and unknowns are explored both ways: the namespace is protected only when every way ends in a deny.
A policy selecting only some pods therefore never protects the namespace. Syntax eksguard does not evaluate is
unknown too, and noted in the evidence: never guessed "protected".
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from eksguard.detect.calico_selector import (
    Tri,
    UnsupportedSelector,
    and3,
    endpoint_lookup,
    evaluate,
    namespace_lookup,
    not3,
    or3,
    parse,
)
from eksguard.snapshot.k8s import CalicoPolicy, CalicoRule, Namespace, NetworkPolicy

IMDS = ipaddress.ip_address("169.254.169.254")
IMDS_PORT = 80
K8S_POLICY_ORDER = 1000.0  # where Calico places Kubernetes NetworkPolicies in the default tier
_CALICO_RULE_KEYS = frozenset({"action", "protocol", "notProtocol", "source", "destination", "ipVersion", "metadata"})


@dataclass(frozen=True)
class ImdsVerdict:
    reachable: bool
    why: str
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Policy:
    """One policy as it bears on this namespace's pods: whether it selects them, and what its rules may do."""

    ref: str
    key: tuple[float, str]
    selects: Tri
    outcomes: tuple[tuple[str, str], ...]  # (allow|deny|next, why) — every result some pod may get


class _Notes:
    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, text: str) -> None:
        if text not in self.items:
            self.items.append(text)

    def selector(self, text: str, lookup: Any, where: str) -> Tri:
        try:
            return evaluate(parse(text), lookup)
        except UnsupportedSelector as exc:
            self.add(f"{where}: {exc} (treated as unknown)")
            return None


def _in_nets(nets: Iterable[str], notes: _Notes, where: str) -> bool:
    found = False
    for net in nets:
        try:
            found = found or IMDS in ipaddress.ip_network(str(net), strict=False)
        except ValueError:
            notes.add(f"{where}: {net!r} is not a CIDR")
    return found


def _port_matches(ports: Sequence[Any], notes: _Notes, where: str) -> Tri:
    result: Tri = False
    for port in ports:
        if isinstance(port, int):
            hit: Tri = port == IMDS_PORT
        elif isinstance(port, str) and ":" in port and port.replace(":", "").isdigit():
            low, high = (int(p) for p in port.split(":", 1))
            hit = low <= IMDS_PORT <= high
        elif isinstance(port, str) and port.isdigit():
            hit = int(port) == IMDS_PORT
        else:
            notes.add(f"{where}: named port {port!r} (treated as unknown)")
            hit = None
        result = or3(result, hit)
    return result


def _tcp(protocol: Any) -> bool:
    return protocol is None or str(protocol).upper() in ("TCP", "6")


def _calico_rule_matches(rule: CalicoRule, ns: Namespace, policy: CalicoPolicy, notes: _Notes) -> Tri:
    where = f"{policy.ref} egress rule"
    unknown = sorted(set(rule.keys) - _CALICO_RULE_KEYS)
    if unknown:
        notes.add(f"{where}: {', '.join(unknown)} not evaluated (treated as unknown)")
    if not _tcp(rule.protocol) or (rule.not_protocol is not None and _tcp(rule.not_protocol)):
        return False
    if rule.ip_version == 6:
        return False
    dst, src = rule.destination or {}, rule.source or {}
    if dst.get("nets") and not _in_nets(dst["nets"], notes, where):
        return False
    if _in_nets(dst.get("notNets") or (), notes, where):
        return False
    match: Tri = None if unknown else True
    if dst.get("ports"):
        match = and3(match, _port_matches(dst["ports"], notes, where))
    if dst.get("notPorts"):
        match = and3(match, not3(_port_matches(dst["notPorts"], notes, where)))
    for key in sorted(set(dst) - {"nets", "notNets", "ports", "notPorts"}):
        notes.add(f"{where}: destination.{key} not evaluated (treated as unknown)")
        match = and3(match, None)
    lookup = endpoint_lookup(ns.name, ns.labels)
    if "selector" in src:
        match = and3(match, notes.selector(src["selector"], lookup, f"{where} source.selector"))
    if "notSelector" in src:
        match = and3(match, not3(notes.selector(src["notSelector"], lookup, f"{where} source.notSelector")))
    if "namespaceSelector" in src:
        ns_lookup = namespace_lookup(ns.name, ns.labels)
        match = and3(match, notes.selector(src["namespaceSelector"], ns_lookup, f"{where} source.namespaceSelector"))
    if set(src) - {"selector", "notSelector", "namespaceSelector"}:
        match = and3(match, None)  # pod IPs, source ports, service accounts: differ from pod to pod
    return match


def _outcomes(rules: Iterable[tuple[str, Tri, str]]) -> tuple[tuple[str, str], ...]:
    """First match decides; an unknown match may decide or fall through; Log never decides."""
    out: list[tuple[str, str]] = []
    for action, match, why in rules:
        if match is False or action == "log":
            continue
        result = {"allow": "allow", "deny": "deny", "pass": "allow"}.get(action)
        if result is None:
            continue
        out.append((result, why + (" (passed to the profile, which allows)" if action == "pass" else "")))
        if match is True:
            return tuple(out)
    return (*out, ("next", ""))


def _calico(policy: CalicoPolicy, ns: Namespace, notes: _Notes) -> _Policy | None:
    if policy.host_only or "Egress" not in policy.types:
        return None
    if policy.namespace is not None and policy.namespace != ns.name:
        return None
    selects = notes.selector(policy.selector, endpoint_lookup(ns.name, ns.labels), f"{policy.ref} selector")
    if policy.namespace is None and policy.namespace_selector:
        selects = and3(selects, notes.selector(policy.namespace_selector, namespace_lookup(ns.name, ns.labels),
                                               f"{policy.ref} namespaceSelector"))
    if policy.service_account_selector:
        selects = and3(selects, None)  # which pods run as which service account is not read
    if selects is False:
        return None
    key = (math.inf if policy.order is None else policy.order, policy.name)
    if policy.tier != "default":
        notes.add(f"{policy.ref} is in tier {policy.tier!r}, which eksguard does not evaluate (treated as allowing)")
        return _Policy(policy.ref, (-math.inf, policy.name), selects, (("allow", f"{policy.ref} (tier not "
                                                                                  "evaluated) may allow it"),))
    rules = []
    for i, rule in enumerate(policy.egress, 1):
        matched = _calico_rule_matches(rule, ns, policy, notes)
        rules.append((rule.action.lower(), matched, f"{policy.ref} egress rule {i} ({rule.action})"))
    return _Policy(policy.ref, key, selects, _outcomes(rules))


def _k8s_rule_matches(rule: Mapping[str, Any], notes: _Notes, where: str) -> Tri:
    ports: Tri = True
    if rule.get("ports"):
        ports = False
        for p in rule["ports"]:
            if not _tcp(p.get("protocol", "TCP")):
                continue
            if "port" not in p:
                hit: Tri = True
            elif "endPort" in p and isinstance(p["port"], int):
                hit = p["port"] <= IMDS_PORT <= int(p["endPort"])
            else:
                hit = _port_matches([p["port"]], notes, where)
            ports = or3(ports, hit)
    peers = rule.get("to") or []
    if not peers:
        return ports  # no "to": every destination
    to: Tri = False
    for peer in peers:
        block = peer.get("ipBlock")
        if block:  # podSelector/namespaceSelector peers are pods, and IMDS is not a pod
            cidr = _in_nets([block.get("cidr", "")], notes, where)
            if cidr and not _in_nets(block.get("except") or (), notes, where):
                to = True
    return and3(ports, to)


def _kubernetes(policy: NetworkPolicy, ns: Namespace, notes: _Notes) -> _Policy | None:
    spec = policy.spec
    types = spec.get("policyTypes") or (["Ingress", "Egress"] if "egress" in spec else ["Ingress"])
    if policy.namespace != ns.name or "Egress" not in types:
        return None
    ref = f"NetworkPolicy {policy.namespace}/{policy.name}"
    pod_selector = spec.get("podSelector") or {}
    everyone = not pod_selector.get("matchLabels") and not pod_selector.get("matchExpressions")
    if not everyone:
        notes.add(f"{ref} selects only some pods (podSelector {dict(pod_selector)}): it cannot protect the namespace")
    rules = [("allow", _k8s_rule_matches(r, notes, ref), f"{ref} egress rule {i} (allow)")
             for i, r in enumerate(spec.get("egress") or (), 1)]
    return _Policy(ref, (K8S_POLICY_ORDER, f"knp.default.{policy.name}"), True if everyone else None,
                   _outcomes(rules))


def imds_reachable(ns: Namespace, calico: Sequence[CalicoPolicy], kubernetes: Sequence[NetworkPolicy]) -> ImdsVerdict:
    notes = _Notes()
    found = [_calico(p, ns, notes) for p in calico] + [_kubernetes(p, ns, notes) for p in kubernetes]
    policies = sorted((p for p in found if p is not None), key=lambda p: p.key)

    @cache
    def reach(i: int, selected_by: str | None) -> tuple[bool, str]:
        """(some pod may reach IMDS, why) from policy i on, given the policy that selected it so far."""
        if i == len(policies):
            if selected_by is None:
                return True, "no network policy selects every pod of the namespace for egress"
            return False, f"denied at the end of the tier: {selected_by} selects the pods and no rule allows it"
        policy, denial = policies[i], ""
        if policy.selects is not True:
            ok, why = reach(i + 1, selected_by)
            if ok:
                return ok, why
            denial = why
        for result, why in policy.outcomes if policy.selects is not False else ():
            if result == "allow":
                return True, f"allowed by {why}"
            if result == "next":
                ok, deeper = reach(i + 1, selected_by or policy.ref)
                if ok:
                    return ok, deeper
                denial = denial or deeper
            else:
                denial = denial or f"denied by {why}"
        return False, denial

    ok, why = reach(0, None)
    return ImdsVerdict(ok, why, tuple(notes.items))
