"""Read a SAM/CloudFormation template and resolve its intrinsic functions the way a deployment would.

Nothing here talks to AWS: physical ids come from ``LocalContext.physical`` (filled in by provisioning).
"""

from __future__ import annotations

import base64
import copy
import graphlib
import json
import re
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import yaml

STATEFUL_TYPES = (
    "AWS::DynamoDB::Table",
    "AWS::Serverless::SimpleTable",
    "AWS::SNS::Topic",
    "AWS::SQS::Queue",
    "AWS::SecretsManager::Secret",
    "AWS::Events::EventBus",
    "AWS::Events::Rule",
)
_FN_TAGS = ("Sub", "If", "Equals", "Not", "And", "Or", "Join", "Select", "Split", "FindInMap", "Base64",
            "ImportValue", "GetAZs", "Cidr")
_SUB_VAR = re.compile(r"\$\{([^}]*)\}")
_NO_VALUE = object()  # what Ref AWS::NoValue yields: the enclosing key or list item disappears


class TemplateError(ValueError):
    """The template cannot be read or resolved locally; the message names the culprit."""


# libyaml's parser where PyYAML has it (its wheels do): the same documents, several times faster than pure Python.
_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class CfnLoader(_SafeLoader):
    """SafeLoader that rewrites CloudFormation short-form tags (``!Ref``, ``!Sub``, ...) to long form."""


def _node_value(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_mapping(node, deep=True)


def _long_form(key: str) -> Callable[[yaml.SafeLoader, yaml.Node], dict[str, Any]]:
    return lambda loader, node: {key: _node_value(loader, node)}


def _get_att(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
    value = _node_value(loader, node)
    # Split on the first dot only: attribute names such as Endpoint.Address contain dots themselves.
    return {"Fn::GetAtt": value.split(".", 1) if isinstance(value, str) else value}


CfnLoader.add_constructor("!Ref", _long_form("Ref"))
CfnLoader.add_constructor("!Condition", _long_form("Condition"))
CfnLoader.add_constructor("!GetAtt", _get_att)
for _tag in _FN_TAGS:
    CfnLoader.add_constructor(f"!{_tag}", _long_form(f"Fn::{_tag}"))
# CloudFormation keeps dates such as a policy's Version: 2012-10-17 as strings; so must we.
CfnLoader.add_constructor("tag:yaml.org,2002:timestamp", yaml.SafeLoader.construct_yaml_str)


class Template(dict[str, Any]):
    """A parsed template that remembers its file, against which CodeUri and ContentUri are relative."""

    def __init__(self, data: Mapping[str, Any], path: Path) -> None:
        super().__init__(data)
        self.path = path


def load_template(path: str | Path) -> dict[str, Any]:
    """The parsed template: a fresh copy each call (callers may change it), parsed once per version of the file."""
    path = Path(path).resolve()
    stat = path.stat()
    key = (path, stat.st_mtime_ns, stat.st_size)
    if key not in _parsed:
        if len(_parsed) >= 8:  # a few templates at a time (tests write their own variants)
            _parsed.pop(next(iter(_parsed)))
        _parsed[key] = _parse(path)
    return Template(copy.deepcopy(_parsed[key]), path)


_parsed: dict[tuple[Path, int, int], dict[str, Any]] = {}


def _parse(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text) if text.lstrip().startswith("{") else yaml.load(text, Loader=CfnLoader)
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        raise TemplateError(f"{path}: {exc}") from exc
    if not isinstance(data, dict):
        raise TemplateError(f"{path}: a template must be a mapping at the top level")
    return data


@dataclass(frozen=True)
class LocalContext:
    account_id: str
    region: str
    partition: str = "aws"
    parameters: Mapping[str, str] = field(default_factory=dict)
    physical: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    stack_name: str = "eksguard-local"


def _intrinsic(value: Mapping[str, Any]) -> str | None:
    if len(value) != 1:
        return None
    (key,) = value
    # A lone "Condition" key is the intrinsic only with a name; IAM's Condition blocks are mappings.
    if key == "Ref" or (isinstance(key, str) and key.startswith("Fn::")):
        return key
    return key if key == "Condition" and isinstance(value[key], str) else None


def _text(value: Any, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise TemplateError(f"{where}: expected a string, got {value!r}")


def check_parameters(declared: Mapping[str, Any], values: Mapping[str, str]) -> None:
    """Refuse what CloudFormation would refuse at deploy time: unknown parameters and values outside their
    declaration (AllowedValues, AllowedPattern, Number and its bounds, lengths) — before anything runs."""
    unknown = sorted(set(values) - set(declared))
    if unknown:
        raise TemplateError(f"parameter overrides not in the template: {', '.join(unknown)} "
                            f"(it declares: {', '.join(sorted(declared)) or 'none'})")
    for name, value in values.items():
        decl = declared[name]
        if isinstance(decl, Mapping) and (problem := _parameter_problem(decl, str(value))):
            raise TemplateError(f"parameter {name}={value!r}: {problem}")


def _parameter_problem(decl: Mapping[str, Any], value: str) -> str | None:
    allowed = [_text(v, "AllowedValues") for v in decl.get("AllowedValues") or []]
    if allowed and value not in allowed:
        return f"must be one of {', '.join(allowed)}"
    pattern = decl.get("AllowedPattern")
    if pattern is not None and re.fullmatch(str(pattern), value) is None:
        return f"does not match the template's AllowedPattern {pattern}"
    if "MinLength" in decl and len(value) < int(decl["MinLength"]):
        return f"must be at least {decl['MinLength']} characters"
    if "MaxLength" in decl and len(value) > int(decl["MaxLength"]):
        return f"must be at most {decl['MaxLength']} characters"
    if str(decl.get("Type", "String")) == "Number":
        try:
            number = float(value)
        except ValueError:
            return "must be a number"
        if "MinValue" in decl and number < float(decl["MinValue"]):
            return f"must be at least {decl['MinValue']}"
        if "MaxValue" in decl and number > float(decl["MaxValue"]):
            return f"must be at most {decl['MaxValue']}"
    return None


class TemplateResolver:
    """Resolves intrinsic functions against a template and a LocalContext."""

    def __init__(self, template: Mapping[str, Any], ctx: LocalContext) -> None:
        self._ctx = ctx
        self._params: Mapping[str, Any] = template.get("Parameters") or {}
        self._resources: Mapping[str, Any] = template.get("Resources") or {}
        self._conditions: Mapping[str, Any] = template.get("Conditions") or {}
        self._mappings: Mapping[str, Any] = template.get("Mappings") or {}
        self._memo: dict[str, bool] = {}
        self._pending: set[str] = set()
        check_parameters(self._params, ctx.parameters)
        stack_uuid = uuid.uuid5(uuid.NAMESPACE_URL, ctx.stack_name)  # stable, like a deployed stack's
        self._pseudo: dict[str, Any] = {
            "AWS::AccountId": ctx.account_id,
            "AWS::Region": ctx.region,
            "AWS::Partition": ctx.partition,
            "AWS::StackName": ctx.stack_name,
            "AWS::StackId": f"arn:{ctx.partition}:cloudformation:{ctx.region}:{ctx.account_id}"
                            f":stack/{ctx.stack_name}/{stack_uuid}",
            "AWS::URLSuffix": "amazonaws.com.cn" if ctx.partition == "aws-cn" else "amazonaws.com",
            "AWS::NotificationARNs": [],
            "AWS::NoValue": _NO_VALUE,
        }

    def resolve(self, value: Any) -> Any:
        """``value`` with every intrinsic function evaluated; a top-level AWS::NoValue becomes None."""
        out = self._resolve(value)
        return None if out is _NO_VALUE else out

    def parameter(self, name: str) -> Any:
        decl = self._params.get(name)
        if not isinstance(decl, Mapping):
            raise TemplateError(f"unknown parameter {name!r}")
        kind = str(decl.get("Type", "String"))
        if name in self._ctx.parameters:
            raw = self._ctx.parameters[name]
        elif "Default" not in decl:
            raise TemplateError(f"parameter {name!r} has no Default: pass a value for it")
        elif kind.startswith("AWS::SSM::Parameter"):
            raise TemplateError(f"parameter {name!r} reads SSM parameter {decl['Default']!r}: pass a value")
        else:
            raw = decl["Default"]
        if kind == "CommaDelimitedList" or "List<" in kind:
            items = raw if isinstance(raw, list) else ([] if raw == "" else str(raw).split(","))
            return [_text(item, f"parameter {name}").strip() for item in items]
        return _text(raw, f"parameter {name}")

    def condition(self, name: str) -> bool:
        if name not in self._memo:
            if name not in self._conditions:
                raise TemplateError(f"unknown condition {name!r}")
            if name in self._pending:
                raise TemplateError(f"condition {name!r} depends on itself")
            self._pending.add(name)
            try:
                self._memo[name] = self._truth(self._conditions[name], f"condition {name}")
            finally:
                self._pending.discard(name)
        return self._memo[name]

    def _resolve(self, value: Any) -> Any:
        if isinstance(value, Mapping):
            fn = _intrinsic(value)
            if fn is not None:
                handler = self._FUNCTIONS.get(fn)
                if handler is None:
                    raise TemplateError(f"{fn} is not supported locally: nothing here can answer it")
                return handler(self, value[fn])
            resolved = ((k, self._resolve(v)) for k, v in value.items())
            return {k: v for k, v in resolved if v is not _NO_VALUE}
        if isinstance(value, list):
            return [v for v in map(self._resolve, value) if v is not _NO_VALUE]
        return value

    def _truth(self, value: Any, where: str) -> bool:
        out = self._resolve(value)
        if not isinstance(out, bool):
            raise TemplateError(f"{where}: expected a condition, got {out!r}")
        return out

    def _args(self, fn: str, arg: Any, count: int) -> list[Any]:
        if not isinstance(arg, list) or len(arg) != count:
            raise TemplateError(f"{fn} takes a list of {count} arguments, got {arg!r}")
        return arg

    def _ref(self, name: Any) -> Any:
        if name in self._pseudo:
            return self._pseudo[name]
        if name in self._params:
            return self.parameter(name)
        if name in self._resources:
            return self._ctx.physical.get(name, {}).get("Ref", name)
        raise TemplateError(f"Ref to {name!r}: no such parameter, resource or pseudo parameter")

    def _get_att(self, arg: Any) -> Any:
        parts = arg.split(".", 1) if isinstance(arg, str) else self._resolve(arg)
        if not (isinstance(parts, list) and len(parts) == 2 and all(isinstance(p, str) for p in parts)):
            raise TemplateError(f"Fn::GetAtt needs [resource, attribute], got {arg!r}")
        lid, attr = parts
        if lid not in self._resources:
            raise TemplateError(f"Fn::GetAtt {lid}.{attr}: no resource {lid!r} in the template")
        attrs = self._ctx.physical.get(lid, {})
        if attr == "Arn" and self._resources[lid].get("Type") == "AWS::Serverless::Function" and attr not in attrs:
            # Functions are not provisioned locally; they run in-process under their logical id.
            return f"arn:{self._ctx.partition}:lambda:{self._ctx.region}:{self._ctx.account_id}:function:{lid}"
        if attr not in attrs:
            known = ", ".join(sorted(k for k in attrs if k != "Ref")) or "none (not provisioned?)"
            raise TemplateError(f"Fn::GetAtt {lid}.{attr}: no local value; known attributes: {known}")
        return attrs[attr]

    def _sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else self._args("Fn::Sub", arg, 2)
        variables = self._resolve(variables)
        if not isinstance(text, str) or not isinstance(variables, Mapping):
            raise TemplateError(f"Fn::Sub needs a string or [string, {{variables}}], got {arg!r}")

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1).strip()
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return _text(variables[name], f"Fn::Sub ${{{name}}}")
            plain = name in self._pseudo or name in self._params or "." not in name
            return _text(self._ref(name) if plain else self._get_att(name), f"Fn::Sub ${{{name}}}")

        return _SUB_VAR.sub(substitute, text)

    def _join(self, arg: Any) -> str:
        delimiter, items = self._args("Fn::Join", arg, 2)
        items = self._resolve(items)
        if not isinstance(items, list):
            raise TemplateError(f"Fn::Join needs a list to join, got {items!r}")
        return _text(delimiter, "Fn::Join").join(_text(i, "Fn::Join") for i in items)

    def _select(self, arg: Any) -> Any:
        index, items = (self._resolve(a) for a in self._args("Fn::Select", arg, 2))
        if not isinstance(items, list) or not 0 <= int(index) < len(items):
            raise TemplateError(f"Fn::Select: index {index!r} is outside {items!r}")
        return items[int(index)]

    def _split(self, arg: Any) -> list[str]:
        delimiter, source = self._args("Fn::Split", arg, 2)
        return _text(self._resolve(source), "Fn::Split").split(_text(delimiter, "Fn::Split"))

    def _if(self, arg: Any) -> Any:
        name, when_true, when_false = self._args("Fn::If", arg, 3)
        return self._resolve(when_true if self.condition(name) else when_false)

    def _equals(self, arg: Any) -> bool:
        def norm(value: Any) -> Any:  # CloudFormation compares strings: "1" equals 1
            return [norm(v) for v in value] if isinstance(value, list) else _text(value, "Fn::Equals")

        left, right = (self._resolve(a) for a in self._args("Fn::Equals", arg, 2))
        return bool(norm(left) == norm(right))

    def _find_in_map(self, arg: Any) -> Any:
        keys = self._args("Fn::FindInMap", arg, 3)
        name, top, second = (_text(self._resolve(k), "Fn::FindInMap") for k in keys)
        try:
            return self._resolve(self._mappings[name][top][second])
        except (KeyError, TypeError):
            raise TemplateError(f"Fn::FindInMap: no {name}.{top}.{second} in Mappings") from None

    def _base64(self, arg: Any) -> str:
        return base64.b64encode(_text(self._resolve(arg), "Fn::Base64").encode()).decode()

    # Fn::GetAZs, Fn::Cidr and Fn::ImportValue load, but resolving them raises: nothing local answers them.
    _FUNCTIONS: ClassVar[dict[str, Callable[[TemplateResolver, Any], Any]]] = {
        "Ref": _ref, "Condition": condition, "Fn::GetAtt": _get_att, "Fn::Sub": _sub, "Fn::Join": _join,
        "Fn::Select": _select, "Fn::Split": _split, "Fn::If": _if, "Fn::Equals": _equals,
        "Fn::FindInMap": _find_in_map, "Fn::Base64": _base64,
        "Fn::Not": lambda self, arg: not self._truth(self._args("Fn::Not", arg, 1)[0], "Fn::Not"),
        "Fn::And": lambda self, arg: all(self._truth(c, "Fn::And") for c in arg),
        "Fn::Or": lambda self, arg: any(self._truth(c, "Fn::Or") for c in arg),
    }


@dataclass(frozen=True)
class EventRule:
    """One SAM event of a function that EventBridge delivers: a pattern rule or a schedule."""

    name: str
    pattern: Mapping[str, Any] | None
    retry_policy: Mapping[str, Any] | None = None
    dead_letter: Mapping[str, Any] | None = None
    enabled: bool = True
    schedule: str | None = None
    event_bus: str | None = None


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    handler: str
    code_uri: Path
    runtime: str | None
    architectures: tuple[str, ...]
    timeout: int
    memory_size: int
    environment: Mapping[str, str]
    layers: tuple[Any, ...]
    layer_paths: tuple[Path, ...]
    event_rules: tuple[EventRule, ...]
    condition: str | None
    deployed: bool


@dataclass(frozen=True)
class ResourceSpec:
    """A stateful resource. Properties resolve on demand: a queue's RedrivePolicy needs its DLQ's Arn,
    which exists only once the DLQ is provisioned, so resolve with a resolver built after that."""

    logical_id: str
    type: str
    raw_properties: Mapping[str, Any]
    condition: str | None
    deployed: bool
    depends_on: tuple[str, ...]

    def properties(self, resolver: TemplateResolver) -> dict[str, Any]:
        return resolver.resolve(self.raw_properties) or {}


def _merge_globals(glob: Mapping[str, Any], local: Mapping[str, Any]) -> dict[str, Any]:
    """SAM's rule: maps merge key by key, lists concatenate (globals first), anything else local wins.

    Architectures is the exception: a function runs on one, so SAM is moving it to "local replaces"."""
    merged = dict(glob)
    for key, value in local.items():
        old = merged.get(key)
        if key == "Architectures":
            merged[key] = value
        elif isinstance(old, Mapping) and _plain_map(old) and _plain_map(value):
            merged[key] = _merge_globals(old, value)
        else:
            merged[key] = [*old, *value] if isinstance(old, list) and isinstance(value, list) else value
    return merged


def _plain_map(value: Any) -> bool:
    # An intrinsic (say Fn::If) is one opaque value to SAM, never a map to merge into.
    return isinstance(value, Mapping) and not _intrinsic(value)


def _properties(template: Mapping[str, Any], resource: Mapping[str, Any], section: str) -> dict[str, Any]:
    glob = (template.get("Globals") or {}).get(section) or {}
    return _merge_globals(glob, resource.get("Properties") or {})


def functions(
    template: Mapping[str, Any], resolver: TemplateResolver, base_dir: Path | None = None
) -> dict[str, FunctionSpec]:
    """Every AWS::Serverless::Function, Globals merged. ``base_dir`` defaults to the template's folder."""
    if base_dir is not None:
        base = base_dir
    elif isinstance(template, Template):
        base = template.path.parent
    else:
        raise TemplateError("pass base_dir: this template was not read by load_template")
    resources = template.get("Resources") or {}
    return {
        lid: _function(lid, res, template, resolver, base)
        for lid, res in resources.items()
        if res.get("Type") == "AWS::Serverless::Function"
    }


def _function(lid: str, res: Mapping[str, Any], template: Mapping[str, Any], resolver: TemplateResolver,
              base: Path) -> FunctionSpec:
    props = _properties(template, res, "Function")
    code_uri, handler = resolver.resolve(props.get("CodeUri")), resolver.resolve(props.get("Handler"))
    if not isinstance(code_uri, str) or not isinstance(handler, str):
        raise TemplateError(f"{lid}: local runs need a CodeUri folder and a Handler")
    env = resolver.resolve((props.get("Environment") or {}).get("Variables")) or {}
    raw_layers = props.get("Layers") or []
    condition = res.get("Condition")
    return FunctionSpec(
        logical_id=lid,
        handler=handler,
        code_uri=(base / code_uri).resolve(),
        runtime=resolver.resolve(props.get("Runtime")),
        architectures=tuple(resolver.resolve(props.get("Architectures")) or ("x86_64",)),
        timeout=int(resolver.resolve(props.get("Timeout", 3))),
        memory_size=int(resolver.resolve(props.get("MemorySize", 128))),
        environment={k: _text(v, f"{lid} environment {k}") for k, v in env.items()},
        layers=tuple(resolver.resolve(raw_layers)),
        layer_paths=tuple(_layer_paths(raw_layers, template, resolver, base)),
        event_rules=tuple(_event_rules(props.get("Events") or {}, resolver)),
        condition=condition,
        deployed=condition is None or resolver.condition(condition),
    )


def _layer_paths(
    layers: list[Any], template: Mapping[str, Any], resolver: TemplateResolver, base: Path
) -> Iterator[Path]:
    resources = template.get("Resources") or {}
    for layer in layers:
        target = resources.get(layer.get("Ref")) if isinstance(layer, Mapping) else None
        if target and target.get("Type") == "AWS::Serverless::LayerVersion":
            content = resolver.resolve((target.get("Properties") or {}).get("ContentUri"))
            if isinstance(content, str):
                yield (base / content).resolve()


def _event_rules(events: Mapping[str, Any], resolver: TemplateResolver) -> Iterator[EventRule]:
    for name, event in events.items():
        kind, props = event.get("Type"), event.get("Properties") or {}
        if kind not in ("EventBridgeRule", "Schedule", "ScheduleV2"):
            continue
        state = resolver.resolve(props.get("State")) or "ENABLED"
        enabled = state != "DISABLED" and _text(resolver.resolve(props.get("Enabled", True)), name) == "true"
        yield EventRule(
            name=name,
            pattern=resolver.resolve(props.get("Pattern")) if kind == "EventBridgeRule" else None,
            retry_policy=resolver.resolve(props.get("RetryPolicy")),
            dead_letter=resolver.resolve(props.get("DeadLetterConfig")),
            enabled=enabled,
            schedule=resolver.resolve(props.get("Schedule" if kind == "Schedule" else "ScheduleExpression")),
            event_bus=resolver.resolve(props.get("EventBusName")),
        )


def stateful_resources(template: Mapping[str, Any], resolver: TemplateResolver) -> list[ResourceSpec]:
    """The resources provisioning creates, each after the stateful resources it refers to."""
    resources = template.get("Resources") or {}
    stateful = [lid for lid, res in resources.items() if res.get("Type") in STATEFUL_TYPES]
    specs: dict[str, ResourceSpec] = {}
    for lid in stateful:
        res = resources[lid]
        simple = res["Type"] == "AWS::Serverless::SimpleTable"
        props = _properties(template, res, "SimpleTable") if simple else res.get("Properties") or {}
        explicit = res.get("DependsOn") or []
        refs = _references(props) | set([explicit] if isinstance(explicit, str) else explicit)
        condition = res.get("Condition")
        deployed = condition is None or resolver.condition(condition)
        deps = tuple(d for d in stateful if d in refs and d != lid)
        specs[lid] = ResourceSpec(lid, res["Type"], props, condition, deployed, deps)
    return _ordered(specs)


def _references(value: Any) -> set[str]:
    """Logical ids that ``value`` refers to through Ref, Fn::GetAtt or Fn::Sub."""
    if isinstance(value, list):
        return set().union(*map(_references, value))
    if not isinstance(value, Mapping):
        return set()
    fn = _intrinsic(value)
    arg = value.get(fn) if fn else None
    if fn == "Ref" and isinstance(arg, str):
        return {arg}
    if fn == "Fn::GetAtt":
        parts = arg.split(".", 1) if isinstance(arg, str) else arg
        return {parts[0]} if isinstance(parts, list) and parts and isinstance(parts[0], str) else set()
    if fn == "Fn::Sub":
        text = arg if isinstance(arg, str) else arg[0] if isinstance(arg, list) and arg else ""
        names = {m.strip().split(".", 1)[0] for m in _SUB_VAR.findall(text) if not m.startswith("!")}
        return names | (_references(arg[1]) if isinstance(arg, list) else set())
    return set().union(*map(_references, value.values()))


def _ordered(specs: Mapping[str, ResourceSpec]) -> list[ResourceSpec]:
    graph = {lid: spec.depends_on for lid, spec in specs.items()}
    try:
        return [specs[lid] for lid in graphlib.TopologicalSorter(graph).static_order()]
    except graphlib.CycleError as exc:
        raise TemplateError(f"resources refer to each other in a cycle: {' -> '.join(exc.args[1])}") from None
