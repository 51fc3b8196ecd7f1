"""A backbone class's signature (MRO walk, docstrings, arch tables) -> the properties of its JSON Schema.

Parameters come from the class's ``__init__`` and, when it passes ``**kwargs`` on to a parent's
``__init__``, from the parent's (minus the ones the child fixes in that call), and so on. A class
"really takes arbitrary kwargs" when its ``**kwargs`` go somewhere other than a parent ``__init__``
(the torchvision/pytorchcv wrappers hand them to the model factory): only then is
``additionalProperties`` true. Imports the libraries (through the adapters): export only.
"""

from __future__ import annotations

import ast
import copy
import inspect
import math
import re
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from otxgen.extract import types as schema_types
from otxgen.extract.arch import arch_table
from otxgen.extract.docstrings import ArgDoc, parse_args_section, summary
from otxgen.extract.structured import structured_property
from otxgen.facts.arguments import POSITIVE_ARGS, WEIGHTS_ARGS

Schema = dict[str, Any]
_EMPTY = inspect.Parameter.empty
_CONFIG_OBJECT: Schema = {"type": "object", "properties": {"type": {"type": "string"}}}
_CONFIG_NAMES = frozenset({"dcn"})
_LOWERS_ARCH = re.compile(r"\barch\s*=\s*arch\.lower\(\)")
# mmengine accepts one init config or a list of them, or None (no initialisation: BaseModule's
# default), whatever a docstring says; a swap that removes the old weights writes None.
_INIT_CFG: Schema = {"anyOf": [_CONFIG_OBJECT, {"type": "array", "items": _CONFIG_OBJECT}, {"type": "null"}]}


@dataclass(frozen=True)
class Param:
    name: str
    default: Any
    annotation: Any
    doc: ArgDoc | None


@dataclass(frozen=True)
class Signature:
    params: tuple[Param, ...]
    arbitrary_kwargs: bool


def collect_signature(cls: type) -> Signature:
    """Parameters of ``cls(...)`` following ``**kwargs`` into parents' ``__init__``."""
    params: dict[str, Param] = {}
    blocked: set[str] = set()
    owner: type | None = _init_owner(cls, cls)
    leaf_docs = _docs(cls, cls.__dict__.get("__init__"))
    while owner is not None:
        function = owner.__dict__["__init__"]
        docs = _docs(owner, function)
        signature = inspect.signature(function)
        for parameter in list(signature.parameters.values())[1:]:
            if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD) or parameter.name in blocked:
                continue
            doc = docs.get(parameter.name) or leaf_docs.get(parameter.name)
            params.setdefault(parameter.name, Param(parameter.name, parameter.default, parameter.annotation, doc))
        var_keyword = next((p.name for p in signature.parameters.values() if p.kind == p.VAR_KEYWORD), None)
        if var_keyword is None:
            return Signature(tuple(params.values()), False)
        forward = _forwarding_call(function, var_keyword)
        if forward is None:
            return Signature(tuple(params.values()), True)
        target, positional, explicit = forward
        parent = _resolve_parent(cls, owner, function, target)
        if parent is None or parent.__module__.startswith("torch.") or parent is object:
            return Signature(tuple(params.values()), False)
        parent_names = list(inspect.signature(parent.__dict__["__init__"]).parameters)[1:]
        blocked |= set(parent_names[:positional]) | explicit
        owner = parent
    return Signature(tuple(params.values()), False)


def _init_owner(cls: type, start: type) -> type | None:
    mro = cls.__mro__
    for klass in mro[mro.index(start) :]:
        if "__init__" in klass.__dict__:
            return klass
    return None


def _docs(owner: type, function: Any) -> dict[str, ArgDoc]:
    docs = parse_args_section(getattr(function, "__doc__", None))
    return parse_args_section(owner.__doc__) | docs


def _forwarding_call(function: Any, var_keyword: str) -> tuple[ast.expr, int, set[str]] | None:
    """The ``X.__init__(...)`` call that receives ``**var_keyword``: (callee, positional count, explicit names)."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    except (OSError, TypeError, SyntaxError):
        return None
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "__init__"):
            continue
        passes = any(
            k.arg is None and isinstance(k.value, ast.Name) and k.value.id == var_keyword for k in node.keywords
        )
        if passes:
            callee = node.func.value
            plain_args = [a for a in node.args if not isinstance(a, ast.Starred)]  # *args: nothing fixed
            positional = len(plain_args) - (0 if isinstance(callee, ast.Call) else 1)
            return callee, max(positional, 0), {k.arg for k in node.keywords if k.arg}
    return None


def _resolve_parent(cls: type, owner: type, function: Any, callee: ast.expr) -> type | None:
    mro = cls.__mro__
    if isinstance(callee, ast.Call) and isinstance(callee.func, ast.Name) and callee.func.id == "super":
        start = owner
        if callee.args and isinstance(callee.args[0], ast.Name):
            start = function.__globals__.get(callee.args[0].id, owner)
        if start not in mro:
            return None
        return _init_owner(cls, mro[mro.index(start) + 1]) if mro.index(start) + 1 < len(mro) else None
    if isinstance(callee, ast.Name):
        named = function.__globals__.get(callee.id)
        return _init_owner(named, named) if isinstance(named, type) else None
    return None


def property_schema(param: Param, options: list[Any] | None, owner_name: str) -> Schema:
    """The JSON Schema of one parameter: type, enum, default and description."""
    schema = structured_property(owner_name, param.name) or _type_schema(param)
    if param.name == "init_cfg":
        schema = copy.deepcopy(_INIT_CFG)
    if param.name == "out_indices" and schema == {"type": "integer"}:  # "(int)" in a docstring, lists in configs
        schema = {"anyOf": [{"type": "integer"}, {"type": "array", "items": {"type": "integer"}}]}
    if param.name in POSITIVE_ARGS:
        schema["minimum"] = 1
    if options:
        schema = _with_enum(schema, options)
    elif param.doc and param.doc.options and "enum" not in schema:
        schema = _with_enum(schema, list(param.doc.options), only_if_typed=True)
    default = jsonable(param.default)
    if param.default is not _EMPTY:
        schema = _admit(schema, param.default, default)
    if default is not _UNSET:
        schema["default"] = default
    if param.doc and param.doc.description:
        schema["description"] = param.doc.description
    return schema


def _type_schema(param: Param) -> Schema:
    schema = None
    if param.annotation is not _EMPTY:
        schema = schema_types.from_hint(param.annotation)
    if schema is None and param.doc is not None:
        schema = schema_types.from_text(param.doc.type_text)
    if schema is None and param.default not in (_EMPTY, None):
        kind = schema_types.json_type(jsonable(param.default))
        schema = {"type": kind} if kind else None
    schema = dict(schema or {})
    if not param.name.endswith("cfg") and param.name not in _CONFIG_NAMES:
        return schema
    return _config_objects(schema) if schema else dict(_CONFIG_OBJECT)


def _config_objects(schema: Schema) -> Schema:
    """``*_cfg`` arguments: every bare object becomes a config dict (an object with a ``type`` string)."""
    if schema.get("type") == "object" and set(schema) == {"type"}:
        return dict(_CONFIG_OBJECT)
    if isinstance(schema.get("type"), list) and "object" in schema["type"]:
        others = [{"type": t} for t in schema["type"] if t != "object"]
        return schema_types.union([dict(_CONFIG_OBJECT), *others])
    if "anyOf" in schema:
        return {"anyOf": [_config_objects(part) for part in schema["anyOf"]]}
    if schema.get("type") == "array" and isinstance(schema.get("items"), dict):
        return dict(schema, items=_config_objects(schema["items"]))
    return schema


def _with_enum(schema: Schema, options: list[Any], only_if_typed: bool = False) -> Schema:
    enum = schema_types.enum_schema(options)
    if enum is None:
        return schema
    parts = _parts(schema)
    replaced = {enum["type"], "number"} if enum["type"] == "integer" else {enum["type"]}
    kept = [p for p in parts if p.get("type") not in replaced]
    if only_if_typed and len(kept) == len(parts):
        return schema
    if not parts:
        return enum
    return schema_types.union([enum, *kept])


def _parts(schema: Schema) -> list[Schema]:
    if "anyOf" in schema:
        return [dict(p) for p in schema["anyOf"]]
    if isinstance(schema.get("type"), list):
        return [{"type": t} for t in schema["type"]]
    return [dict(schema)] if schema else []


def _admit(schema: Schema, raw_default: Any, default: Any) -> Schema:
    """Widen ``schema`` so the parameter's own default is valid (None defaults mean null is accepted)."""
    if not schema:
        return schema
    value = None if raw_default is None else default
    if value is _UNSET or Draft202012Validator(schema).is_valid(value):
        return schema
    kind = schema_types.json_type(value)
    return schema_types.union([schema, {"type": kind}]) if kind else {}


_UNSET: Any = type("_Unset", (), {"__repr__": lambda self: "<unset>"})()


def jsonable(value: Any) -> Any:
    """``value`` as JSON data (tuples -> lists, ConfigDict -> dict), or ``_UNSET`` when it has no JSON form."""
    if value is _EMPTY:
        return _UNSET
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else _UNSET
    if isinstance(value, (list, tuple)):
        items = [jsonable(v) for v in value]
        return _UNSET if any(i is _UNSET for i in items) else items
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        pairs = {k: jsonable(v) for k, v in value.items()}
        return _UNSET if any(v is _UNSET for v in pairs.values()) else pairs
    return _UNSET


def source_path(obj: Any) -> str | None:
    """The file defining ``obj``, relative to the site-packages (or source root) that holds its package."""
    try:
        path = Path(inspect.getfile(obj)).resolve()
    except (TypeError, OSError):
        return None
    top = obj.__module__.split(".")[0]
    package = sys.modules.get(top)
    package_file = getattr(package, "__file__", None)
    if not package_file:
        return path.name
    root = Path(package_file).resolve().parent.parent
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.name


def class_summary(cls: type) -> str:
    return summary(cls.__doc__)


# ---- the whole schema ---------------------------------------------------------------------------

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
METHOD_VERSION = 3  # bump when the extraction or measuring method changes: invalidates fingerprints


def signature_schema(entry: Any, adapter: Any) -> Schema:
    """Everything but the measured part (``tasks``, ``channels``): cheap, no probing."""
    cls = entry.target
    signature = collect_signature(cls)
    names = {p.name for p in signature.params}
    arch = arch_table(cls, names)
    properties: Schema = {"type": {"const": entry.type}}
    for param in signature.params:
        options = _accepted(cls, arch[1]) if arch and arch[0] == param.name else None
        properties[param.name] = property_schema(param, options, entry.name)
    required = [p.name for p in signature.params if p.default is _EMPTY]
    required_args = {n: arch[1] if arch and arch[0] == n else _options(properties[n]) for n in required}
    return {
        "$schema": SCHEMA_DIALECT,
        "$id": f"otxgen/{entry.library}/{entry.name}.json",
        "title": entry.type,
        "description": class_summary(cls),
        "type": "object",
        "properties": properties,
        "required": ["type", *required],
        "additionalProperties": signature.arbitrary_kwargs,
        "x-otxgen": {
            "library": entry.library,
            "library_version": adapter.version(),
            "name": entry.name,
            "source": source_path(_defining_object(entry, adapter)),
            "custom_import": adapter.custom_import(),
            "required_args": required_args,
        },
    }


def _accepted(cls: type, options: list[Any]) -> list[Any]:
    """Arch options as the class accepts them: mmpretrain lower-cases ``arch`` strings first, so
    ``'B'`` and ``'Base'`` are valid there too."""
    if not any(_LOWERS_ARCH.search(_source(klass)) for klass in cls.__mro__ if "__init__" in klass.__dict__):
        return options
    variants = [v for o in options if isinstance(o, str) for v in (o.upper(), o.capitalize())]
    return options + [v for v in dict.fromkeys(variants) if v not in options]


def _source(klass: type) -> str:
    try:
        return inspect.getsource(klass.__dict__["__init__"])
    except (OSError, TypeError):
        return ""


def _defining_object(entry: Any, adapter: Any) -> Any:
    """The code a backbone really comes from (the model builder for the classifier wrappers): the
    adapter says, when it wraps another library's models."""
    defining = getattr(adapter, "defining_object", None)
    return defining(entry.name) if defining is not None else entry.target


def _options(prop: Schema) -> list[Any]:
    for part in [prop, *prop.get("anyOf", [])]:
        if "enum" in part:
            return list(part["enum"])
    return []


def fingerprint(entry: Any, adapter: Any, schema: Schema) -> str:
    """What the measured part depends on: method, library and torch versions, the signature (names and
    defaults), the arch table values and the class source; not descriptions or type details, so
    improving the extraction does not force a re-probe. Equal fingerprints let export reuse a table."""
    import hashlib
    import json

    cls = entry.target
    arch = arch_table(cls, set(schema["properties"]))
    try:
        source = inspect.getsource(_defining_object(entry, adapter))
    except (OSError, TypeError):
        source = ""
    payload = json.dumps(
        {
            "method": METHOD_VERSION,
            "library_version": adapter.version(),
            "torch": _torch_version(),
            "signature": {name: prop.get("default", "<required>") for name, prop in schema["properties"].items()},
            "arch": repr(arch[2]) if arch else None,
            "source": source,
        },
        sort_keys=True,
        default=repr,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def _torch_version() -> str:
    from importlib.metadata import version

    return version("torch")


def schema_for(
    entry: Any,
    adapter: Any,
    previous: Schema | None = None,
    published: list[tuple[dict[str, Any], dict[str, Any]]] | None = None,
    by_url: dict[str, Any] | None = None,
    configured: list[tuple[dict[str, Any], str]] | None = None,
) -> Schema:
    """The full schema of ``entry``; the channel table, tasks and measured costs are reused from
    ``previous`` (the committed schema) when its fingerprint matches, else measured with the shape
    probe; the catalog lists ``published`` (the adapter's checkpoints of this backbone); required
    arguments without options take their examples from ``configured`` (the libraries' shipped configs)."""
    from otxgen.extract.catalog import catalog_block
    from otxgen.extract.channels import as_written, measure

    schema = signature_schema(entry, adapter)
    admit_shipped(schema, configured or [])
    with_config_examples(schema, configured or [])
    extension = schema["x-otxgen"]
    stamp = fingerprint(entry, adapter, schema)
    old = (previous or {}).get("x-otxgen", {})
    measured = getattr(adapter, "channel_block", None)
    if old.get("fingerprint") == stamp:
        channels, tasks = old.get("channels"), old.get("tasks")
        if channels and "container" not in channels:  # measured before the table recorded it
            channels = channels | {"container": _container(entry, adapter, schema)}
        if channels and measured is None:  # the signature's, not measured: as this extraction writes it
            default = _default_of(schema["properties"].get("out_indices") or {})
            channels = channels | {"default_out_indices": as_written(default)}
    elif measured is not None:  # the adapter reads its library's own metadata (timm's feature_info)
        params = {p: _default_of(schema["properties"][p]) for p in schema["properties"] if p != "type"}
        channels, tasks = measured(entry.name, params)
    else:
        params = {p: _default_of(schema["properties"][p]) for p in schema["properties"] if p != "type"}
        arch = arch_table(entry.target, set(params))
        key, options, table = (arch[0], arch[1], arch[2]) if arch else (None, [], {})
        channels, tasks = measure(entry.type, params, key, options, table)
    extension.update(tasks=tasks, channels=channels, fingerprint=stamp)
    from otxgen.libraries.mm import MMAdapter

    if isinstance(adapter, MMAdapter):  # the defaults only its own library's scope resolves
        from otxgen.extract.scopes import scoped_defaults
        from otxgen.schema.store import starting_arguments

        scoped = scoped_defaults(entry.type, schema["properties"], starting_arguments(schema))
        extension.update({"scoped_defaults": scoped} if scoped else {})
    reusable = old.get("catalog") if old.get("fingerprint") == stamp else None
    extension["catalog"] = catalog_block(entry, schema, reusable, published or [], by_url or {})
    return schema


_KEPT = ("description", "default", "examples")  # what widening a property keeps of it


def admit_shipped(schema: Schema, configured: list[tuple[dict[str, Any], str]]) -> None:
    """Widen each property so the values the library's own shipped configs give it are valid, as
    ``_admit`` does for the default: a docstring can be wrong (mmseg's STDCNet says ``stdc_type (int)``
    and its configs give ``'STDCNet1'``), and validate must find nothing in a config the library ships."""
    properties = schema["properties"]
    for args, _ in configured:
        for name, value in args.items():
            data = jsonable(value)
            if name == "type" or name not in properties or value is None or data is _UNSET:
                continue
            if not Draft202012Validator(properties[name]).is_valid(data):
                kept = {key: properties[name].pop(key) for key in _KEPT if key in properties[name]}
                properties[name] = _admit(properties[name], value, data) | kept


EXAMPLES = 3  # the shipped configurations a required argument without options lists, most used first


def with_config_examples(schema: Schema, configured: list[tuple[dict[str, Any], str]]) -> None:
    """Where a required argument has no options (nor a hand-written example, as HRNet's ``extra``), the
    schema gets ``examples`` at its root: whole backbone configurations as the library's shipped configs
    give them (what loads weights left out), each valid against the schema, the most used first;
    ``x-otxgen.examples_from`` names the config of each. Whole, because a backbone's defaults need not
    construct: TridentNet asserts a depth of 50 or more and three stages. The matrix runs the first
    (``otxgen.schema.store.starting_arguments``); ``backbone.yaml`` offers it to the user."""
    meta, properties = schema["x-otxgen"], schema["properties"]
    if not any(not options and "examples" not in properties[a] for a, options in meta["required_args"].items()):
        return
    validator = Draft202012Validator(schema)
    seen: dict[str, tuple[dict[str, Any], list[str]]] = {}
    for args, where in configured:
        example = {"type": schema["title"]} | {k: jsonable(v) for k, v in args.items() if k not in WEIGHTS_ARGS}
        if _UNSET in example.values() or "://" in repr(example) or not validator.is_valid(example):
            continue  # an address to fetch (VPD's class embeddings) is never run
        seen.setdefault(repr(sorted(example.items())), (example, []))[1].append(where)
    ranked = sorted(seen.values(), key=lambda pair: -len(pair[1]))[:EXAMPLES]  # stable: path order on ties
    if ranked:
        schema["examples"] = [example for example, _ in ranked]
        meta["examples_from"] = [paths[0] for _, paths in ranked]


def _container(entry: Any, adapter: Any, schema: Schema) -> str | None:
    """The form ``entry``'s forward returns at default arguments (the first arch option), as ``measure``
    records it: the adapter's own wrapper's where it declares one (timm's), else probed."""
    from otxgen.shapes import ProbeError, probe_outputs

    declared: str | None = getattr(adapter, "container", None)
    if declared is not None:
        return declared
    arch = arch_table(entry.target, set(schema["properties"]))
    cfg = {"type": entry.type} | ({arch[0]: arch[1][0]} if arch and arch[1] else {})
    try:
        return probe_outputs(cfg, tier="probe").container
    except ProbeError:
        return None


def _default_of(prop: Schema) -> Any:
    return prop.get("default")
