"""Backbone arguments by meaning, the one list: pure, nothing of otxgen imported."""

from __future__ import annotations

# Arguments that cannot change a backbone's output channels or strides (initialisation, freezing,
# normalisation and activation configs, checkpointing, dropout rates, weights): the channel table's
# ``shape_args`` and the catalog's arch options leave them out.
NEUTRAL_ARGS = frozenset(
    {
        "init_cfg",
        "pretrained",
        "frozen_stages",
        "norm_eval",
        "with_cp",
        "zero_init_residual",
        "norm_cfg",
        "act_cfg",
        "conv_cfg",
        "drop_rate",
        "drop_path_rate",
        "attn_drop_rate",
        "dropout",
        "dropout_ratio",
        "style",
        "dcn",
        "stage_with_dcn",
        "convert_weights",
        "init_values",
        "layer_scale_init_value",
        "qkv_bias",
        "progress",
        "pretrained2d",
        "tile_size",
    }
)

# Arguments that count a single-stride backbone's blocks (a ViT's ``num_layers``, timm's ``depth``): its
# ``out_indices`` index those blocks. Taken as the count only where the argument's default equals the
# number of identical levels the channel table lists (``ChannelTable.stages``): a name alone could count
# something else (BEiT's ``num_heads`` is 12 too, and not in this list for that reason).
LEVEL_COUNT_ARGS = frozenset({"num_layers", "depth"})

# Arguments that load weights (timm's ``pretrained=True`` fetches them): a backbone configuration
# taken from a shipped config as an example leaves them out.
WEIGHTS_ARGS = frozenset({"init_cfg", "pretrained", "pretrained2d", "checkpoint_path"})

# Arguments that count something (pixels) and must be at least 1 where given: their schema says so.
POSITIVE_ARGS = frozenset({"tile_size"})

# mmcv's normalisation layers (``build_norm_layer``) and the keys each asserts its config has beside
# ``type``: a ``norm_cfg=dict(type='GN')`` without them passes a schema, then fails as the model builds.
NORM_REQUIRES = {"GN": ("num_groups",)}
# The normalisation layers that split a layer's channels into groups: a consumer normalised by one
# divides the widths it derives from its ``in_channels`` (CSPNeXtPAFPN's ``in_channels * expand_ratio``),
# and raises as it builds where one does not. The key that sets how many groups.
GROUP_NORMS = {"GN": "num_groups"}


def group_norms(value: object) -> list[dict[str, object]]:
    """Every group-splitting ``norm_cfg`` inside a consumer's config (nested ones too)."""
    if isinstance(value, dict):
        found = [value] if value.get("type") in GROUP_NORMS else []
        return found + [norm for item in value.values() for norm in group_norms(item)]
    if isinstance(value, (list, tuple)):
        return [norm for item in value for norm in group_norms(item)]
    return []
