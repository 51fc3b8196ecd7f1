"""``build --weights auto|none|URL|PATH``: the new backbone's ``init_cfg`` and the normalisation its
checkpoint was trained with, planned from the catalog (``otxgen.schema.published``). Reads, never
downloads: the config names the checkpoint, mmengine loads it when the model is initialised.

- ``auto`` (default): the library's ImageNet checkpoint for exactly this arch (see ``published.choose``),
  else none, said in a ``[!]`` line;
- ``none``: no checkpoint (the backbone trains from scratch);
- a URL or a local file: that checkpoint; a published one brings its prefix and normalisation, a local
  file's prefix is read from its key names (without unpickling: ``pickletools`` only lists them).

A classifier checkpoint of an mm library holds the backbone under ``backbone.`` (``prefix``); the
torchvision / pytorchcv / timm wrappers rename their library's classifier keys themselves.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from otxgen import fsio
from otxgen.errors import UsageError
from otxgen.facts.checkpoints import is_switch, is_weights, switched_on
from otxgen.schema.published import Checkpoint, arch_of, as_published, choose, find

AUTO, NONE, GIVEN = "auto", "none", "given"
_CLASSIFIER_PREFIX = "backbone."
_RGB_KEYS = ("bgr_to_rgb", "to_rgb")  # mmdet / mmseg, mmpretrain


@dataclass(frozen=True)
class Weights:
    init_cfg: dict[str, Any] | None  # None: no checkpoint
    checkpoint: Checkpoint | None = None  # the published one, when known: its normalisation applies
    notes: tuple[str, ...] = ()  # [!] lines
    facts: tuple[str, ...] = field(default=())  # [*] lines
    choice: str = AUTO  # how they were chosen: auto, none, or given (--weights, backbone.yaml, --set)


def plan_weights(
    choice: str, backbone: dict[str, Any], schema: dict[str, Any], base: Path, folders: Sequence[Path] = ()
) -> Weights:
    """The weights for the new ``backbone`` (its type and arguments as requested); a relative file is
    read from ``base`` (the current folder), and written as an absolute path when a model it goes into
    lies in another of ``folders``."""
    if any(k in backbone for k in ("init_cfg", "pretrained")):  # None too: no weights, as the user says
        own = [f"{k}={backbone[k]!r}" for k in ("init_cfg", "pretrained") if k in backbone]
        loads = any(is_weights(k, backbone[k]) for k in ("init_cfg", "pretrained") if k in backbone)
        if choice != AUTO and (choice != NONE or loads):
            raise UsageError(
                f"--weights {choice} and the backbone's own {', '.join(own)} both say which weights it starts "
                "from: give one of them"
            )
        _check_own(backbone, schema, base)
        return Weights(backbone.get("init_cfg"), facts=("weights: as the backbone's arguments set them",), choice=GIVEN)
    if choice == NONE:
        note = "no pretrained weights (--weights none): the backbone trains from scratch"
        return Weights(None, notes=(note,), choice=NONE)
    if choice == AUTO:
        chosen = _auto(backbone, schema)
        if chosen.init_cfg is None and switched_on(schema["properties"]):  # its own: each config's plan says
            return Weights(None, choice=AUTO)
        return chosen
    elsewhere = any(fsio.resolve(folder) != fsio.resolve(base) for folder in folders)
    return _given(choice, schema, base, elsewhere)


def _check_own(backbone: dict[str, Any], schema: dict[str, Any], base: Path) -> None:
    """The checkpoints a backbone's own ``init_cfg`` / ``pretrained`` name (a backbone.yaml's, a ``--set``)
    held to ``--weights``' rules: an address mmengine fetches, or a checkpoint file that is there
    (relative to ``base``); an ``ArgumentError`` naming the argument where one is not."""
    from otxgen.errors import ArgumentError
    from otxgen.facts.checkpoints import is_switch, loads_checkpoint

    init_cfg, pretrained = backbone.get("init_cfg"), backbone.get("pretrained")
    inits = [init_cfg] if isinstance(init_cfg, dict) else init_cfg if isinstance(init_cfg, list) else []
    given = [("init_cfg", i.get("checkpoint")) for i in inits if isinstance(i, dict) and loads_checkpoint(i)]
    switch = is_switch(schema.get("properties", {}))  # True asks the library: no address to check
    given += [("pretrained", pretrained)] if pretrained not in (None, False) and not switch else []
    for argument, address in given:
        said = f"{argument} checkpoint" if argument == "init_cfg" else argument
        if not isinstance(address, str):
            raise ArgumentError(f"{said} {address!r}: not a URL or a checkpoint file", argument)
        try:
            _given(address, schema, base, False, said)
        except UsageError as error:
            raise ArgumentError(str(error), argument) from None


def for_the_same_type(schema: dict[str, Any], old: dict[str, Any], requested: dict[str, Any]) -> Weights | None:
    """``--weights auto`` in a swap to the type the config already has: None where the new arguments leave
    its parameters as they are (``frozen_stages``, ``drop_path_rate``): the config's own weights stay,
    and so does their absence; else the published checkpoint of what the config will build (its own
    arguments with the new ones), or none where none fits it."""
    own = {k: v for k, v in old.items() if k != "_delete_" and not is_weights(k, v)}
    built = {**own, **{k: v for k, v in requested.items() if not is_weights(k, v)}}
    if fitting(schema, built, own):
        return None
    return _auto(built, schema)


def fitting(schema: dict[str, Any], backbone: dict[str, Any], other: dict[str, Any]) -> bool:
    """Whether a checkpoint of ``other`` loads whole into ``backbone`` (both of ``schema``'s type) as the
    network it was trained as: they read checkpoints alike (``READING_ARGS``: a caffe-style ResNet's are
    another network's), and they differ only in arguments that leave the parameters as they are
    (``UNWEIGHTED_ARGS``), or, built alone (on the meta device), the parameters and buffers they share have
    the same shapes and neither has more than ``_UNSHARED`` of its own beside them (ConvNeXt's norms for
    its ``out_indices``; not ResNet-101's blocks beside ResNet-50's)."""
    from otxgen.facts.checkpoints import READING_ARGS, norm_family
    from otxgen.facts.libraries import UNWEIGHTED_ARGS
    from otxgen.facts.values import same_value
    from otxgen.shapes import parameter_shapes

    properties = schema.get("properties", {})

    def value(args: dict[str, Any], key: str) -> Any:
        return args.get(key, (properties.get(key) or {}).get("default", READING_ARGS.get(key)))

    if not all(same_value(value(backbone, k), value(other, k)) for k in READING_ARGS):
        return False
    if norm_family(backbone, properties) != norm_family(other, properties):  # GroupNorm's are not BN's weights
        return False
    keys = (set(backbone) | set(other)) - {"type"} - UNWEIGHTED_ARGS
    if all(same_value(value(backbone, k), value(other, k)) for k in keys):
        return True
    mine, theirs = parameter_shapes(backbone), parameter_shapes(other)
    if mine is None or theirs is None or any(mine[k] != theirs[k] for k in mine.keys() & theirs.keys()):
        return False
    return _unshared(mine, theirs) <= _UNSHARED and _unshared(theirs, mine) <= _UNSHARED


_UNSHARED = 0.01  # the share of a network's parameters the other may lack and still be "the same network"


def _unshared(shapes: dict[str, tuple[int, ...]], other: dict[str, tuple[int, ...]]) -> float:
    """The share of ``shapes``' elements in tensors ``other`` does not have."""
    import math

    sizes = {name: math.prod(shape) for name, shape in shapes.items()}
    return sum(size for name, size in sizes.items() if name not in other) / max(1, sum(sizes.values()))


def _auto(backbone: dict[str, Any], schema: dict[str, Any]) -> Weights:
    from dataclasses import replace

    from otxgen.facts.checkpoints import norm_family, reads_with

    # a size no config publishes (Swin at another img_size): its arch option's, where ``fitting`` says they load
    arch = arch_of(schema, backbone) or arch_of(schema, as_published(schema, backbone))
    if arch is None:
        return Weights(
            None, notes=(f"no published checkpoint for this {backbone['type']} arch: it trains from scratch",)
        )
    # a caffe-style ResNet gets a checkpoint trained as one (and its normalisation), not torchvision's; a
    # GroupNorm one a GroupNorm one's
    family, plain = norm_family(backbone, schema["properties"]), norm_family({}, schema["properties"])
    arch = replace(
        arch,
        checkpoints=tuple(
            c for c in arch.checkpoints if reads_with(dict(c.arguments), backbone) and (c.norm or plain) == family
        ),
    )
    chosen, why = choose(arch)
    if chosen is None:
        # a switch (TIMMBackbone's, torchvision's): the library it builds with has weights of its own
        own = (
            "--set pretrained=True has it fetch its library's own as it is built, or "
            if is_switch(schema["properties"])
            else ""
        )
        note = f"no pretrained weights written: {why}; {own}pass --weights URL|PATH to start from one"
        return Weights(None, notes=(note,))
    published = {**as_published(schema, backbone), **dict(chosen.arguments)}  # read as its configs read it
    if chosen.norm is not None:  # trained with the norm layers this backbone has (a GroupNorm ResNet's)
        published |= {k: backbone[k] for k in ("norm_cfg", "conv_cfg") if k in backbone}
    if not fitting(schema, {**dict(chosen.arguments), **backbone}, published):  # as it will be written
        from otxgen.facts.libraries import UNWEIGHTED_ARGS
        from otxgen.facts.values import same_value

        properties = schema.get("properties", {})
        moved = [
            f"{k}={v!r}"
            for k, v in backbone.items()
            if k not in published
            and k not in UNWEIGHTED_ARGS
            and not same_value(v, properties.get(k, {}).get("default"))
        ]
        theirs = "the published checkpoints" if arch.label == "default" else f"{arch.label}'s checkpoints"
        note = (
            f"no published checkpoint fits this {backbone['type']}: with {', '.join(moved)} its parameters have "
            f"other shapes than {theirs}; it trains from scratch (--weights URL|PATH starts it from one)"
        )
        return Weights(None, notes=(note,))
    assert chosen.address is not None
    fact = f"weights: {chosen.name} ({chosen.publisher}{_trained_on(chosen)}), {why}"
    read = ", ".join(f"{name}={value!r}" for name, value in chosen.arguments)
    fact += f", read with {read} as those configs read it" if read else ""
    return Weights(_init_cfg(chosen.address, chosen.prefix), chosen, facts=(fact,))


def _given(address: str, schema: dict[str, Any], base: Path, elsewhere: bool, said: str = "--weights") -> Weights:
    """The checkpoint at ``address`` (a URL or a file, relative to ``base``); ``said``: how the user gave it,
    which a ``UsageError`` quotes."""
    found = find(schema, address)
    if found is not None:
        published = found[1]
        return Weights(
            _init_cfg(address, published.prefix), published, facts=(f"weights: {published.name}",), choice=GIVEN
        )
    if "://" in address:
        _require_address(address, said)
        note = f"{address} is not a checkpoint the catalog knows: the normalisation stays as it is"
        return Weights(_init_cfg(address, None), notes=(note,), choice=GIVEN)
    if not address.strip():
        raise UsageError(f"{said} is empty: give a URL, a checkpoint file, auto or none")
    path = Path(address) if Path(address).is_absolute() else base / address
    if path.is_dir():
        raise UsageError(f"{said} {address}: is a folder; give a checkpoint file in it (a .pth)")
    if not path.is_file():
        raise UsageError(f"{said} {address}: no such file (give a URL, a checkpoint file, auto or none)")
    why = fsio.not_a_checkpoint(path)
    if why is not None:
        raise UsageError(f"{said} {address}: not a PyTorch checkpoint ({why})")
    held = _top_object(path)
    if held in _NOT_MAPPINGS:
        what = _NOT_MAPPINGS[held]
        raise UsageError(f"{said} {address}: holds {what}, not a state dict (what torch.save wrote of a model)")
    written, facts = address, []
    if not Path(address).is_absolute() and elsewhere:
        written = str(fsio.resolve(path))
        facts.append(
            f"weights: {address} written as {written}: mmengine reads a relative path from where training runs"
        )
    prefix = _classifier_prefix(path)
    facts.insert(0, f"weights: {address}" + (f" (a whole classifier's: prefix {prefix!r})" if prefix else ""))
    note = "a local checkpoint: the normalisation stays as it is; 'otxgen smoke --weights-check' loads it"
    return Weights(_init_cfg(written, prefix), notes=(note,), facts=tuple(facts), choice=GIVEN)


def _require_address(address: str, said: str = "--weights") -> None:
    """An address mmengine's checkpoint reader can fetch: ``scheme://`` and something after it (a host
    and a file for http), in a format it reads; else a ``UsageError`` saying what is wrong."""
    from urllib.parse import urlsplit

    from otxgen.facts.checkpoints import ADDRESS_SCHEMES, torch_readable

    try:
        parts = urlsplit(address)
    except ValueError as error:  # an unclosed [IPv6 host
        raise UsageError(f"{said} {address}: not an address ({error})") from None
    if not parts.scheme or not address.split("://", 1)[1]:
        raise UsageError(f"{said} {address}: not an address (give scheme://..., a checkpoint file, auto or none)")
    named = re.match(r"(?:[^:/\s]+:)?([A-Za-z][\w+.-]*)://", address)  # s3/petrel may name a cluster first
    scheme = named.group(1).lower() if named else parts.scheme
    if scheme not in ADDRESS_SCHEMES:
        schemes = ", ".join(f"{name}://" for name in ADDRESS_SCHEMES)
        raise UsageError(
            f"{said} {address}: mmengine's checkpoint reader does not fetch {scheme}:// addresses "
            f"({schemes}); download it and give the file"
        )
    if parts.scheme in ("http", "https"):
        if not parts.netloc or parts.path in ("", "/"):
            raise UsageError(f"{said} {address}: an http address needs a host and a file")
        if not torch_readable(address):
            raise UsageError(
                f"{said} {address}: not a format mmengine's checkpoint reader loads (it reads torch.save files)"
            )


def _init_cfg(checkpoint: str, prefix: str | None) -> dict[str, Any]:
    return {"type": "Pretrained", "checkpoint": checkpoint, **({"prefix": prefix} if prefix else {})}


def _trained_on(checkpoint: Checkpoint) -> str:
    data = " + ".join(checkpoint.data)
    top1 = f", top-1 {checkpoint.top1:.2f}" if checkpoint.top1 is not None else ""
    return (f", {data}" if data else "") + top1


def _classifier_prefix(path: Path) -> str | None:
    """``'backbone.'`` when the checkpoint's keys sit under it (an mm classifier's or detector's)."""
    names = _key_names(path)
    return _CLASSIFIER_PREFIX if any(n.startswith(_CLASSIFIER_PREFIX) for n in names) else None


# What a checkpoint's pickle begins with when it holds no mapping (a state dict is a dict or an
# OrderedDict): refused. Anything else it may begin with is left to ``smoke --weights-check``.
_NOT_MAPPINGS = {"a list": "a list", "torch._utils _rebuild_tensor_v2": "a tensor"}


def _top_object(path: Path) -> str | None:
    """What a torch checkpoint holds at its top, read from its pickle's first opcode without executing
    it: ``'a dict'``, ``'a list'``, the class it builds (``'collections OrderedDict'``); None where it
    cannot be told (not a zip archive, an opcode otxgen does not read)."""
    import pickletools  # here: a swap without a checkpoint file does not load the pickle machinery

    data = _pickled(path)
    try:
        opcodes = [(op.name, arg) for op, arg, _ in itertools.islice(pickletools.genops(data), 3)]
    except (ValueError, EOFError):
        return None
    first = next(((name, arg) for name, arg in opcodes if name not in ("PROTO", "FRAME")), None)
    if first is None:
        return None
    name, arg = first
    kinds = {"EMPTY_DICT": "a dict", "EMPTY_LIST": "a list"}
    if name in kinds:
        return kinds[name]
    return str(arg) if name == "GLOBAL" and isinstance(arg, str) else None


def _pickled(path: Path) -> bytes:
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            pickled = next((n for n in archive.namelist() if n.endswith("data.pkl")), None)
            return archive.read(pickled) if pickled else b""
    except (OSError, zipfile.BadZipFile):
        return b""


def _key_names(path: Path) -> list[str]:
    """The strings of a torch checkpoint's pickle, listed without executing it (``pickletools``)."""
    import pickletools

    data = _pickled(path)
    try:
        return [arg for _, arg, _ in pickletools.genops(data) if isinstance(arg, str)]
    except (ValueError, EOFError):
        return []


def normalisation(
    checkpoint: Checkpoint | None, current: dict[str, Any] | None, library: str | None
) -> tuple[dict[str, Any], list[str]]:
    """The data preprocessor's mean / std / channel order the checkpoint was trained with, where they
    differ from ``current`` (the merged preprocessor), each with its ``[*]`` line."""
    if checkpoint is None or checkpoint.mean is None or checkpoint.std is None:
        return {}, []
    current = current or {}
    rgb_key = next((k for k in _RGB_KEYS if k in current), "to_rgb" if library == "mmpretrain" else "bgr_to_rgb")
    wanted: dict[str, Any] = {"mean": list(checkpoint.mean), "std": list(checkpoint.std)}
    if checkpoint.rgb is not None:
        wanted[rgb_key] = checkpoint.rgb
    changes = {k: v for k, v in wanted.items() if not _same(current.get(k), v)}
    lines = [
        f"data_preprocessor.{k}={v!r} (was {current.get(k)!r}): what {checkpoint.name} expects"
        for k, v in changes.items()
    ]
    return changes, lines


def _same(left: Any, right: Any) -> bool:
    if isinstance(left, (list, tuple)) and isinstance(right, (list, tuple)):
        return len(left) == len(right) and all(
            abs(float(a) - float(b)) < 1e-3 for a, b in zip(left, right, strict=True)
        )
    return bool(left == right)
