"""The input size a swap makes the new backbone take: a backbone built for one size (its schema's
``fixed_input_size``: a timm ViT's position embedding, a window) gets its library's arguments for any
size where the config feeds it another (a dense task's images; a classifier's crop), or the swap is
refused with both sizes. Any other backbone is probed at the sides the config feeds it (a classifier's
or segmentor's crop, else ``CLASSIFIER_SIDE``, or for images of any size ``ANY_SIZE_SIDES``): one that
runs at its own size and not at those (a HaloNet's blocks, a patch of 14, SwinV2's window at a 7 px
map) gets the arguments that free it, or is refused with the side and the library's words. Pure but
for probes of the backbone's outputs (``otxgen.shapes``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from otxgen.facts.consumers import ConsumerError
from otxgen.facts.inputs import CLASSIFIER_SIDE, PAD_DIVISORS, PADDING_TASKS, fed_sides
from otxgen.facts.libraries import SIZE_ARGS, SIZE_FREEING_ARGS, SIZE_SETTING_ARGS, TILING_ARGS

if TYPE_CHECKING:
    from otxgen.shapes import ShapeResult


Sized = tuple[dict[str, Any], "ShapeResult", int | None]


class Padding(NamedTuple):
    """How a detector's preprocessor pads its batches: to a multiple of ``divisor`` (None: the config
    says none), then to the fixed sides of its batch augments (``batch``; None where one resizes batches
    to sizes of its own, so that no coarser multiple would hold)."""

    divisor: int | None = None
    batch: tuple[int, ...] | None = ()


def sized(
    backbone: dict[str, Any],
    outputs: ShapeResult,
    task: str,
    schema: dict[str, Any],
    sides: list[int],
    notes: list[str],
    padding: Padding | None = None,
) -> Sized:
    """``backbone`` (and its outputs) able to take the images the config feeds it: for a dense task any
    size (a multiple of ``padding.divisor``, the preprocessor's padding), for a classifier its ``sides`` (the
    config's crops, where it says them: one size where training and testing crop alike, else any).
    Unchanged where the backbone takes any size, the arguments are set already, or the classifier's
    crops are the backbone's own size. The third item: the coarser multiple a detector's preprocessor
    must pad to for a backbone that runs only on its multiples (a window of 7 at stride 32: 224), else
    None. ``ConsumerError`` where a classifier's crop is another size and the backbone cannot take it (no
    such arguments, or they do not build), or where a dense model's backbone does not run at the sides
    it is fed with any of them."""
    from otxgen.shapes import ProbeError, probe_outputs

    padding = padding or Padding()
    meta = schema.get("x-otxgen") or {}
    block = meta.get("channels") or {}
    made_for = _side(block.get("input_size"))
    library = str(meta.get("library"))
    freeing = SIZE_FREEING_ARGS.get(library, ())
    setting = SIZE_SETTING_ARGS.get(library)
    built_for = _side(backbone.get(setting)) if setting is not None else None
    tiled_at = built_for or made_for  # a model made for another size runs on squares of that one
    tiling = {TILING_ARGS[library]: tiled_at} if library in TILING_ARGS and tiled_at else None
    given = SIZE_ARGS & set(backbone)
    if given:  # the user's (or a base's) size arguments are kept, and held to the sides the config feeds
        keeps = tiling if tiling is not None and not set(tiling) & given else None
        return _running_at(backbone, outputs, task, sides, (), notes, padding, keeps)
    if not block.get("fixed_input_size"):
        sizing = next((name for name in ("img_size", "input_size") if name in schema.get("properties", {})), None)
        return _running_at(backbone, outputs, task, sides, freeing, notes, padding, tiling, sizing)
    if task == "classification" and set(sides) <= {made_for}:
        return backbone, outputs, None
    fed = f"{' and '.join(map(str, sides))} px images" if task == "classification" else f"{task} images of any size"
    why = f"{backbone['type']} is built for {made_for} px input, and the config feeds it {fed}"
    one = task == "classification" and len(sides) == 1
    tries: list[dict[str, Any]] = [{setting: sides[0]}] if one and setting is not None else []
    tries += freeing
    failures: list[str] = []
    for arguments in tries:
        candidate = {**backbone, **arguments}
        try:
            result = probe_outputs(candidate)
        except ProbeError as error:
            failures.append(str(error))
            continue
        if task != "classification" and _failure(candidate, _fed(task, sides, padding.divisor)) is not None:
            continue  # builds, but not for other sizes (a window that must divide the map)
        notes.append(f"set {', '.join(f'{k}={v!r}' for k, v in arguments.items())}: {why}")
        return candidate, result, None
    if task != "classification":  # nothing frees it: it must run at the sides a dense model feeds it
        return _running_at(backbone, outputs, task, sides, (), notes, padding, tiling)
    failed = f"it does not build for another ({failures[0]})" if failures else "its library has no size argument"
    raise ConsumerError(("backbone",), f"{why}; {failed}: crop to {made_for} px")


def _running_at(
    backbone: dict[str, Any],
    outputs: ShapeResult,
    task: str,
    sides: list[int],
    freeing: tuple[dict[str, Any], ...],
    notes: list[str],
    padding: Padding,
    tiling: dict[str, int] | None = None,
    sizing: str | None = None,
) -> Sized:
    """``backbone`` as it is where it runs at the sides the config feeds it, or where it fails at its own
    size too (not a matter of size: the smoke-build says what); else with the first of its library's
    size-freeing arguments that make it run at them; else, in a detector fed images of any size, with
    the least coarser multiple to pad them to at which it runs (``PAD_DIVISORS``); else run on squares
    of its own size (``tiling``, where its wrapper can); else ``ConsumerError`` with the side and why, and
    for a classifier the argument that sets the size the backbone is built for (``sizing``), if it has one."""
    from otxgen.shapes import ProbeError, probe_outputs

    divisor = padding.divisor
    fed = _fed(task, sides, divisor)
    failure = _failure(backbone, fed)
    if failure is None:
        return backbone, outputs, None
    try:
        probe_outputs(backbone, tier="probe")
    except ProbeError:
        return backbone, outputs, None
    side, error = failure
    why = f"{backbone['type']} does not run on {side} px input ({error})"
    for arguments in freeing:
        if _failure({**backbone, **arguments}, fed) is None:
            notes.append(f"set {', '.join(f'{k}={v!r}' for k, v in arguments.items())}: {why}")
            return {**backbone, **arguments}, probe_outputs({**backbone, **arguments}), None
    if task in PADDING_TASKS:  # every batch, of the crop or of any size, is padded to the multiple
        coarser = (d for d in PAD_DIVISORS if d > (divisor or 32) and d % (divisor or 32) == 0)
        holding = (d for d in coarser if padding.batch is not None and all(side % d == 0 for side in padding.batch))
        padded = next((d for d in holding if _failure(backbone, [d, 2 * d]) is None), None)
        if padded is not None:
            return backbone, outputs, padded
    if task == "classification":
        way = (
            f"set its {sizing} to it (--set {sizing}={side}; weights made at another size then load in part) or "
            if sizing
            else ""
        )
        raise ConsumerError(("backbone",), f"{why}, the size the config crops to: {way}crop to a size it takes")
    tiled = _tiled(backbone, tiling, fed, why, notes) if tiling is not None else None
    if tiled is not None:  # a dense task's images of any size, in squares of the backbone's own
        return tiled
    multiple = f"a multiple of {divisor or 32}"
    multiple += f", and of none up to {PAD_DIVISORS[-1]}" if task in PADDING_TASKS else ""
    raise ConsumerError(
        ("backbone",),
        f"{why}, and a {task} model feeds it images of any size ({multiple}): choose a backbone that takes them",
    )


def _tiled(
    backbone: dict[str, Any], tiling: dict[str, int], fed: list[int], why: str, notes: list[str]
) -> Sized | None:
    """``backbone`` run on squares of its own size (its wrapper's ``tiling`` argument), said in a note,
    where it then runs at the sides ``fed``; else None."""
    from otxgen.shapes import probe_outputs

    candidate = {**backbone, **tiling}
    if _failure(candidate, fed) is not None:
        return None
    ((name, tile),) = tiling.items()
    notes.append(
        f"set {name}={tile}: {why}; it now runs on {tile} px squares of each image (padded to a whole"
        " number of them), each seen alone, and their maps are joined"
    )
    return candidate, probe_outputs(candidate), None


def _fed(task: str, sides: list[int], divisor: int | None) -> list[int]:
    """The sides a model is fed: a classifier's crops (else ImageNet's); for a dense task its training
    crop, if any, and images of any size too, since its test images are resized whole."""
    if task == "classification":
        return sides or [CLASSIFIER_SIDE]
    return [*sides, *(side for side in fed_sides(divisor) if side not in sides)]


def _failure(backbone: dict[str, Any], sides: list[int]) -> tuple[int, str] | None:
    """The first side the backbone does not run at, with why; None when it runs at every one."""
    from otxgen.shapes import ProbeError, probe_outputs

    for side in sides:
        try:
            probe_outputs(backbone, tier="probe", input_size=side)
        except ProbeError as error:
            return side, error.why
    return None


def _side(size: object) -> int | None:
    if isinstance(size, (list, tuple)) and size and isinstance(size[-1], int):
        return int(size[-1])
    return size if isinstance(size, int) else None
