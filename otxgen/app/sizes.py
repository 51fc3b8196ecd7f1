"""The input size a swap makes the new backbone take: a backbone built for one size (its schema's
``fixed_input_size``: a timm ViT's position embedding, a window) gets its library's arguments for any
size where the config feeds it another (a dense task's images; a classifier's crop), or the swap is
refused with both sizes. Pure but for a probe of the backbone's outputs (``otxgen.shapes``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from otxgen.facts.consumers import ConsumerError
from otxgen.facts.libraries import SIZE_FREEING_ARGS, SIZE_SETTING_ARGS

if TYPE_CHECKING:
    from otxgen.shapes import ShapeResult


def sized(
    backbone: dict[str, Any],
    outputs: ShapeResult,
    task: str,
    schema: dict[str, Any],
    sides: list[int],
    notes: list[str],
) -> tuple[dict[str, Any], ShapeResult]:
    """``backbone`` (and its outputs) able to take the images the config feeds it: for a dense task any
    size, for a classifier its ``sides`` (the config's crops, where it says them: one size where training
    and testing crop alike, else any). Unchanged where the backbone takes any size, the arguments are set
    already, or the classifier's crops are the backbone's own size; ``ConsumerError`` where a
    classifier's crop is another size and the backbone cannot take it (no such arguments, or they do not
    build); a dense model that cannot is left to the smoke-build."""
    from otxgen.shapes import ProbeError, probe_outputs

    meta = schema.get("x-otxgen") or {}
    block = meta.get("channels") or {}
    made_for = _side(block.get("input_size"))
    freeing = SIZE_FREEING_ARGS.get(str(meta.get("library")), ())
    given = {"img_size", "input_size"}.union(*freeing) & set(backbone)
    if not block.get("fixed_input_size") or given:
        return backbone, outputs
    if task == "classification" and set(sides) <= {made_for}:
        return backbone, outputs
    fed = f"{' and '.join(map(str, sides))} px images" if task == "classification" else f"{task} images of any size"
    why = f"{backbone['type']} is built for {made_for} px input, and the config feeds it {fed}"
    setting = SIZE_SETTING_ARGS.get(str(meta.get("library")))
    one = task == "classification" and len(sides) == 1
    tries: list[dict[str, Any]] = [{setting: sides[0]}] if one and setting is not None else []
    tries += freeing
    failures: list[str] = []
    for arguments in tries:
        try:
            result = probe_outputs({**backbone, **arguments})
        except ProbeError as error:
            failures.append(str(error))
            continue
        notes.append(f"set {', '.join(f'{k}={v!r}' for k, v in arguments.items())}: {why}")
        return {**backbone, **arguments}, result
    if task != "classification":  # a dense model may pad or crop: the smoke-build runs it and says
        return backbone, outputs
    failed = f"it does not build for another ({failures[0]})" if failures else "its library has no size argument"
    raise ConsumerError(("backbone",), f"{why}; {failed}: crop to {made_for} px")


def _side(size: object) -> int | None:
    if isinstance(size, (list, tuple)) and size and isinstance(size[-1], int):
        return int(size[-1])
    return size if isinstance(size, int) else None
