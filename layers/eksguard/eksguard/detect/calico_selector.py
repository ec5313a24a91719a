"""Calico's label-selector language, evaluated three-valued over what eksguard knows at namespace level.

eksguard reads namespaces, not pods, so a selector is judged for "every pod of a namespace": ``True`` when it
selects all of them, ``False`` when none, ``None`` when it depends on pod labels (some pods may match). Labels
known for every pod of namespace N: ``projectcalico.org/namespace`` = N, ``projectcalico.org/orchestrator`` =
k8s, and ``pcns.<label>`` = N's own labels. Any other label is a pod's own: unknown.

Supported: ``all()``, ``global()``, ``has(l)``, ``l == 'v'``, ``!=``, ``in {...}``, ``not in {...}``,
``contains``, ``starts with``, ``ends with``, ``!``, ``&&``, ``||`` and parentheses. Anything else raises
``UnsupportedSelector``: callers treat it as unknown and say so, never as "matches".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import cache

Tri = bool | None
# A label lookup: (known, value); value None means "known to be absent".
Lookup = Callable[[str], tuple[bool, str | None]]

_TOKEN = re.compile(r"""\s*(?:(?P<str>'[^']*'|"[^"]*")|(?P<op>==|!=|&&|\|\||[!(){},])|(?P<word>[A-Za-z0-9_./-]+))""")


class UnsupportedSelector(ValueError):
    pass


def and3(a: Tri, b: Tri) -> Tri:
    if a is False or b is False:
        return False
    return None if a is None or b is None else True


def or3(a: Tri, b: Tri) -> Tri:
    if a is True or b is True:
        return True
    return None if a is None or b is None else False


def not3(a: Tri) -> Tri:
    return None if a is None else not a


def _tokens(text: str) -> list[str]:
    out, pos = [], 0
    while pos < len(text.rstrip()):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise UnsupportedSelector(f"cannot read selector {text!r} at {text[pos:]!r}")
        out.append(m.group(m.lastgroup or "word"))
        pos = m.end()
    return out


Node = tuple  # ("all",) ("global",) ("has", l) ("cmp", l, op, values) ("not", n) ("and", a, b) ("or", a, b)


class _Parser:
    def __init__(self, text: str):
        self.text, self.toks, self.i = text, _tokens(text), 0

    def peek(self, k: int = 0) -> str | None:
        return self.toks[self.i + k] if self.i + k < len(self.toks) else None

    def take(self, expected: str | None = None) -> str:
        tok = self.peek()
        if tok is None or (expected is not None and tok != expected):
            raise UnsupportedSelector(f"selector {self.text!r}: expected {expected or 'more'} at token {self.i}")
        self.i += 1
        return tok

    def parse(self) -> Node:
        node = self.expr()
        if self.peek() is not None:
            raise UnsupportedSelector(f"selector {self.text!r}: unexpected {self.peek()!r}")
        return node

    def expr(self) -> Node:
        node = self.conj()
        while self.peek() == "||":
            self.take()
            node = ("or", node, self.conj())
        return node

    def conj(self) -> Node:
        node = self.unary()
        while self.peek() == "&&":
            self.take()
            node = ("and", node, self.unary())
        return node

    def unary(self) -> Node:
        if self.peek() == "!":
            self.take()
            return ("not", self.unary())
        if self.peek() == "(":
            self.take()
            node = self.expr()
            self.take(")")
            return node
        word = self.take()
        if word in ("all", "global", "has") and self.peek() == "(":
            self.take("(")
            if word == "has":
                label = self.take()
                self.take(")")
                return ("has", label)
            self.take(")")
            return (word,)
        return self.comparison(word)

    def comparison(self, label: str) -> Node:
        op = self.take()
        if op in ("==", "!=", "contains"):
            return ("cmp", label, op, (self.string(),))
        if op in ("starts", "ends"):
            self.take("with")
            return ("cmp", label, f"{op} with", (self.string(),))
        if op == "not":
            self.take("in")
            return ("not", ("cmp", label, "in", self.set()))
        if op == "in":
            return ("cmp", label, "in", self.set())
        raise UnsupportedSelector(f"selector {self.text!r}: operator {op!r} is not supported")

    def string(self) -> str:
        tok = self.take()
        if tok[:1] not in ("'", '"'):
            raise UnsupportedSelector(f"selector {self.text!r}: expected a quoted string, got {tok!r}")
        return tok[1:-1]

    def set(self) -> tuple[str, ...]:
        self.take("{")
        values: list[str] = []
        while self.peek() != "}":
            values.append(self.string())
            if self.peek() == ",":
                self.take()
        self.take("}")
        return tuple(values)


@cache
def parse(text: str) -> Node:
    return _Parser(text).parse() if text.strip() else ("all",)


def evaluate(node: Node, lookup: Lookup) -> Tri:
    kind = node[0]
    if kind == "all":
        return True
    if kind == "global":
        return False  # selects non-namespaced resources (host endpoints, global network sets), never pods
    if kind == "not":
        return not3(evaluate(node[1], lookup))
    if kind in ("and", "or"):
        combine = and3 if kind == "and" else or3
        return combine(evaluate(node[1], lookup), evaluate(node[2], lookup))
    known, value = lookup(node[1])
    if not known:
        return None
    if kind == "has":
        return value is not None
    _, _, op, values = node
    if value is None:
        return op == "!="  # an absent label is unequal to anything, and matches nothing else
    return {"==": value == values[0], "!=": value != values[0], "in": value in values,
            "contains": values[0] in value, "starts with": value.startswith(values[0]),
            "ends with": value.endswith(values[0])}[op]


def endpoint_lookup(namespace: str, ns_labels: Mapping[str, str]) -> Lookup:
    """Labels every pod of ``namespace`` carries for Calico; others are the pods' own (unknown)."""

    def lookup(label: str) -> tuple[bool, str | None]:
        if label == "projectcalico.org/namespace":
            return True, namespace
        if label == "projectcalico.org/orchestrator":
            return True, "k8s"
        if label.startswith("pcns."):
            return namespace_lookup(namespace, ns_labels)(label.removeprefix("pcns."))
        return False, None

    return lookup


def namespace_lookup(namespace: str, labels: Mapping[str, str]) -> Lookup:
    """A namespaceSelector sees the namespace's labels plus Calico's ``projectcalico.org/name``."""
    full = {**labels, "projectcalico.org/name": namespace}
    return lambda label: (True, full.get(label))
