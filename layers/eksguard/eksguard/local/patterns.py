"""Amazon EventBridge event-pattern matching, so local runs route events exactly as the rules will in AWS.

Semantics follow the EventBridge user guide ("Creating event patterns", "Content filtering",
"Arrays in event patterns"). Decisions the guide leaves to interpretation, with the sentence relied on:

* Leaf values. "Exists matching only works on leaf nodes. It does not work on intermediate nodes." An
  object in the event is therefore no value at all for a leaf pattern: ``{"exists": false}`` matches it
  and ``{"exists": true}`` does not. Arrays are flattened (nested ones too), so an empty array has no
  leaf value either.
* Presence. "Exists matching works on the presence or absence of a field in the JSON of the event."
  A field that is present with a JSON null therefore satisfies ``{"exists": true}``.
* Arrays. "If the value in the event is an array, then the event pattern matches if the intersection of
  the event pattern array and the event array is non-empty." Positive filters need one matching element;
  ``anything-but`` is a negation, so it matches only when no element is excluded (and at least one
  exists). A sub-pattern under an array of objects must match entirely within one element.
* Types. "You can use prefix matching for string values"; "Numeric matching works with values that are
  JSON numbers"; "Null values and empty strings are not interchangeable". String filters never match
  non-strings, ``numeric`` never matches strings, and equality is type-aware (true is not 1, but 5 is
  5.0). ``anything-but`` "matches anything except what's provided in the rule", so a value of another
  type (a number against ``{"anything-but": {"prefix": "x"}}``) is not excluded.

``matches`` checks the whole pattern before evaluating it, so a malformed branch raises PatternError
even when an earlier key has already decided the result.
"""

from __future__ import annotations

import ipaddress
import math
import operator
import re
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["PatternError", "matches", "validate_pattern"]

_OR = "$or"
_MISSING = object()
_NUMERIC_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}

# A compiled object pattern: event object -> matched?
_ObjectCheck = Callable[[Mapping[str, Any]], bool]
# A compiled entry of a leaf array: the field's leaf values -> matched?
_LeafCheck = Callable[[list[Any]], bool]
# A predicate on one leaf value.
_ValueTest = Callable[[Any], bool]


class PatternError(ValueError):
    """The event pattern is malformed; the message names the offending path."""


def validate_pattern(pattern: Mapping[str, Any]) -> None:
    """Raise PatternError unless ``pattern`` is a well-formed EventBridge event pattern."""
    _compile_object(pattern, "")


def matches(pattern: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
    """True when ``event`` matches ``pattern``. Neither argument is modified."""
    check = _compile_object(pattern, "")
    if not isinstance(event, Mapping):
        raise TypeError(f"an event must be a JSON object, got {type(event).__name__}")
    return check(event)


# ---- structure -------------------------------------------------------------------------------------


def _fail(path: str, message: str) -> PatternError:
    return PatternError(f"event pattern at {path or '<root>'}: {message}")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _is_array(value: Any) -> bool:
    return isinstance(value, list | tuple)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _compile_object(pattern: Any, path: str) -> _ObjectCheck:
    if not isinstance(pattern, Mapping) or not pattern:
        raise _fail(path, f"expected a non-empty JSON object, got {pattern!r}")
    checks: list[_ObjectCheck] = []
    for key, value in pattern.items():
        if not isinstance(key, str):
            raise _fail(path, f"field names must be strings, got {key!r}")
        here = _join(path, key)
        checks.append(_compile_or(value, here) if key == _OR else _compile_field(key, value, here))
    return lambda event: all(check(event) for check in checks)


def _compile_or(alternatives: Any, path: str) -> _ObjectCheck:
    if not _is_array(alternatives) or len(alternatives) < 2:
        raise _fail(path, "$or needs an array of at least two sub-patterns")
    subs = [_compile_object(alt, f"{path}[{i}]") for i, alt in enumerate(alternatives)]
    return lambda event: any(sub(event) for sub in subs)


def _compile_field(key: str, value: Any, path: str) -> _ObjectCheck:
    if isinstance(value, Mapping):
        sub = _compile_object(value, path)
        # An absent or scalar intermediate is an empty object: only exists:false leaves can match below it.
        return lambda event: any(sub(obj) for obj in (_objects(event.get(key, _MISSING)) or [{}]))
    if _is_array(value):
        leaf = _compile_leaf(value, path)
        return lambda event: leaf(_leaf_values(event.get(key, _MISSING)))
    raise _fail(path, f"leaf values must be arrays, got {type(value).__name__} {value!r}")


def _objects(raw: Any) -> list[Mapping[str, Any]]:
    if isinstance(raw, Mapping):
        return [raw]
    if _is_array(raw):
        return [obj for item in raw for obj in _objects(item)]
    return []


def _leaf_values(raw: Any) -> list[Any]:
    if raw is _MISSING or isinstance(raw, Mapping):
        return []
    if _is_array(raw):
        return [value for item in raw for value in _leaf_values(item)]
    return [raw]


def _compile_leaf(entries: Any, path: str) -> _LeafCheck:
    if not entries:
        raise _fail(path, "empty array: it would never match")
    checks = [_compile_entry(entry, f"{path}[{i}]") for i, entry in enumerate(entries)]
    return lambda values: any(check(values) for check in checks)


def _compile_entry(entry: Any, path: str) -> _LeafCheck:
    if isinstance(entry, Mapping):
        return _compile_filter(entry, path)
    test = _literal(entry, path)
    return lambda values: any(test(v) for v in values)


# ---- content filters -------------------------------------------------------------------------------


def _compile_filter(entry: Mapping[str, Any], path: str) -> _LeafCheck:
    if len(entry) != 1:
        raise _fail(path, f"a content filter has exactly one operator, got {sorted(entry)}")
    ((op, arg),) = entry.items()
    here = _join(path, str(op))
    if op == "exists":
        if not isinstance(arg, bool):
            raise _fail(here, f"expected true or false, got {arg!r}")
        return (lambda values: bool(values)) if arg else (lambda values: not values)
    if op == "anything-but":
        excluded = _anything_but(arg, here)
        return lambda values: bool(values) and not any(excluded(v) for v in values)
    test = _positive(op, arg, here)
    return lambda values: any(test(v) for v in values)


def _positive(op: Any, arg: Any, path: str) -> _ValueTest:
    if op in ("prefix", "suffix"):
        return _affix(op, arg, path)
    if op == "equals-ignore-case":
        return _ignore_case(_string(arg, path))
    if op == "wildcard":
        return _wildcard(_string(arg, path), path)
    if op == "numeric":
        return _numeric(arg, path)
    if op == "cidr":
        return _cidr(arg, path)
    raise _fail(path, "unknown operator")


def _anything_but(arg: Any, path: str) -> _ValueTest:
    if isinstance(arg, Mapping):
        if len(arg) != 1:
            raise _fail(path, f"expected one of prefix/suffix/equals-ignore-case/wildcard, got {sorted(arg)}")
        ((op, inner),) = arg.items()
        here = _join(path, str(op))
        if op in ("prefix", "suffix"):
            return _affix(op, _string(inner, here), here)
        if op in ("equals-ignore-case", "wildcard"):
            build = _ignore_case if op == "equals-ignore-case" else (lambda s: _wildcard(s, here))
            tests = [build(s) for s in _strings(inner, here)]
            return lambda v: any(t(v) for t in tests)
        raise _fail(here, "not allowed inside anything-but")
    values = list(arg) if _is_array(arg) else [arg]
    if not values or not (all(isinstance(v, str) for v in values) or all(_is_number(v) for v in values)):
        raise _fail(path, f"expected a string, a number, or a non-empty list of just one kind; got {arg!r}")
    tests = [_literal(v, path) for v in values]
    return lambda v: any(t(v) for t in tests)


def _literal(expected: Any, path: str) -> _ValueTest:
    if expected is None:
        return lambda v: v is None
    if isinstance(expected, bool):
        return lambda v: isinstance(v, bool) and v is expected
    if isinstance(expected, str):
        return lambda v: isinstance(v, str) and v == expected
    if _is_number(expected) and math.isfinite(expected):
        return lambda v: _is_number(v) and v == expected
    raise _fail(path, f"a value must be a string, number, boolean, null or content filter; got {expected!r}")


def _string(arg: Any, path: str) -> str:
    if not isinstance(arg, str):
        raise _fail(path, f"expected a string, got {arg!r}")
    return arg


def _strings(arg: Any, path: str) -> list[str]:
    items = list(arg) if _is_array(arg) else [arg]
    if not items:
        raise _fail(path, "expected a string or a non-empty list of strings")
    return [_string(item, path) for item in items]


def _affix(op: str, arg: Any, path: str) -> _ValueTest:
    fold = False
    if isinstance(arg, Mapping):
        if set(arg) != {"equals-ignore-case"}:
            raise _fail(path, f"only equals-ignore-case may qualify {op}, got {sorted(arg)}")
        arg, fold = arg["equals-ignore-case"], True
    affix = _string(arg, path)
    if fold:
        affix = affix.lower()
    check = str.startswith if op == "prefix" else str.endswith
    return lambda v: isinstance(v, str) and check(v.lower() if fold else v, affix)


def _ignore_case(expected: str) -> _ValueTest:
    folded = expected.lower()
    return lambda v: isinstance(v, str) and v.lower() == folded


def _wildcard(text: str, path: str) -> _ValueTest:
    parts: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "\\":
            escaped = text[i + 1 : i + 2]
            if escaped not in ("*", "\\"):
                raise _fail(path, f"a backslash may only escape '*' or '\\' in {text!r}")
            parts.append(re.escape(escaped))
            i += 2
            continue
        if char == "*" and text[i + 1 : i + 2] == "*":
            raise _fail(path, f"consecutive wildcard characters are not allowed in {text!r}")
        parts.append(".*" if char == "*" else re.escape(char))
        i += 1
    regex = re.compile("".join(parts), re.DOTALL)
    return lambda v: isinstance(v, str) and regex.fullmatch(v) is not None


def _numeric(spec: Any, path: str) -> _ValueTest:
    if not _is_array(spec) or not spec or len(spec) % 2:
        raise _fail(path, f"expected operator/value pairs such as ['>', 0, '<=', 5], got {spec!r}")
    bounds: list[tuple[Callable[[Any, Any], bool], float]] = []
    for op, bound in zip(spec[::2], spec[1::2], strict=True):
        if op not in _NUMERIC_OPS:
            raise _fail(path, f"unknown numeric operator {op!r}; use one of {sorted(_NUMERIC_OPS)}")
        if not _is_number(bound) or not math.isfinite(bound):
            raise _fail(path, f"numeric operator {op!r} needs a number, got {bound!r}")
        bounds.append((_NUMERIC_OPS[op], bound))
    return lambda v: _is_number(v) and all(compare(v, bound) for compare, bound in bounds)


def _cidr(spec: Any, path: str) -> _ValueTest:
    block = _string(spec, path)
    try:
        network = ipaddress.ip_network(block, strict=False)
    except ValueError as exc:
        raise _fail(path, f"not a CIDR block: {exc}") from None

    def test(value: Any) -> bool:
        if not isinstance(value, str):
            return False
        try:
            address = ipaddress.ip_address(value)
        except ValueError:
            return False
        # Checked explicitly: ``in`` compares integers and does not reject an address of the other family.
        return address.version == network.version and address in network

    return test
