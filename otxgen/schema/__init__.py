"""Backbone JSON Schemas as committed: loading (``store``), the channel table's one reader (``table``), resolving
a type (``resolve``), published checkpoints (``published``); extraction is ``otxgen.extract`` ([mm] extra).

Format of ``schemas/<lib>/<Name>.json`` (JSON Schema draft 2020-12)::

    {
      "$schema": "https://json-schema.org/draft/2020-12/schema",
      "$id": "otxgen/mmdet/ResNet.json",
      "title": "mmdet.ResNet",
      "description": "<first paragraph of the class docstring>",
      "type": "object",
      "properties": {
        "type": {"const": "mmdet.ResNet"},
        "depth": {"type": "integer", "enum": [18, 34, 50, 101, 152], "description": "..."},
        "norm_cfg": {"type": "object", "properties": {"type": {"type": "string"}}, "default": {...}},
        ...
      },
      "required": ["type", "depth"],
      "additionalProperties": false,
      "x-otxgen": {
        "library": "mmdet", "library_version": "3.3.0", "name": "ResNet",
        "source": "mmdet/models/backbones/resnet.py",
        "custom_import": "mmdet.models",
        "required_args": {"depth": [18, 34, 50, 101, 152]},       # [] when there are no options
        "tasks": ["classification", "detection", "instance-segmentation", "segmentation"],
        "fingerprint": "7ad97896f821dcf3",  # what the table depends on (otxgen.extract.signature.fingerprint)
        "channels": {                                              # null when no table could be made
          "key": "depth",                                          # the arch argument, or null
          "default_out_indices": [0, 1, 2, 3],
          "shape_args": ["base_channels", "num_stages", ...],      # args that change the table
          "dense_args": {},                  # args the table assumes, e.g. {"out_type": "featmap"}
          "defaults": {"50": [{"channels": 256, "stride": 4, "ndim": 4}, ...]},  # outputs at defaults;
                                             # pooled (N, C) outputs have ndim 2 and stride null
          "table": {"50": [{"channels": 256, "stride": 4}, ...]},  # every stage, index = out_index;
                                                                   # key "default" when key is null
          "out_indices_ignored": true        # only where out_indices selects nothing (SSDVGG): the
        },                                   # table is then what the backbone gives, whatever it says
        "catalog": {                                               # see otxgen.extract.catalog / schema.published
          "key": "depth",                                          # the arch argument, or null
          "archs": {"50": {                                        # every arch option ("default": none)
            "measured": {"params": 23508032, "gflops": 4.087, "input_size": 224},  # or {"error": why}
            "checkpoints": [{"name": "torchvision://resnet50", "publisher": "mmdet", "url": "...",
                             "data": ["ImageNet-1k"], "top1": 76.13, "params": 25557032, "gflops": 4.089,
                             "input_size": 224, "mean": [...], "std": [...], "rgb": true,
                             "prefix": null, "configs": 33, "same_as": "ResNet50_Weights.IMAGENET1K_V1"}]}}
        }
      }
    }

``tasks`` leaves out the dense tasks only when neither the defaults nor any ``dense_args`` variant
gives 4-D maps. ``shape_args``: every argument except the key, ``out_indices`` and the shape-neutral
ones in ``otxgen.facts.arguments.NEUTRAL_ARGS``; ``otxgen.shapes.static_outputs`` applies the table
only when no shape argument differs from its default (``dense_args`` at their table values excepted).

``schemas/index.json``::

    {"format": 1,
     "libraries": {"mmdet": {"version": "3.3.0", "excluded": {"Name": "reason", ...}}, ...},
     "backbones": [{"type": "mmdet.ResNet", "library": "mmdet", "required_args": {...},
                    "tasks": [...], "schema": "mmdet/ResNet.json",
                    "archs": [{"arch": ["50"], "params": 25557032, "params_source": "torchvision",
                               "gflops": 4.089, "gflops_source": "torchvision", "top1": 80.858,
                               "weights": 2}, ...]}, ...]}   # what find shows; aliases share a row
"""
