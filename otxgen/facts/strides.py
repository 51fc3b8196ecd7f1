"""A feature map's stride from its size, the one rounding rule: pure, nothing of otxgen imported."""

from __future__ import annotations


def stride_of(input_side: int, map_side: int) -> int | None:
    """The stride of a map ``map_side`` wide from an input ``input_side`` wide: the power of two whose
    rounded-up (strided convolutions) or rounded-down (pooling without ``ceil_mode``) division gives
    ``map_side`` (a padded stride-64 map at 224 is 4 wide), else the exact ratio (patch 14 at 224), else
    the rounded ratio. None for an empty map."""
    if map_side <= 0 or input_side <= 0:
        return None
    ratio = input_side / map_side
    low = 1 << max(0, int(ratio).bit_length() - 1)
    for candidate in (low, low * 2):
        if -(-input_side // candidate) == map_side or input_side // candidate == map_side:
            return candidate
    return input_side // map_side if input_side % map_side == 0 else max(1, round(ratio))
