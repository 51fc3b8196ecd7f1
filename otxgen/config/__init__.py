"""The config view: a config and its whole ``_base_`` chain (Python, YAML with mmcv's ``!!python/tuple``,
JSON) read statically, never executed, merged with one implementation of the merge rule, every value
knowing the file and position that set it. Every command reads configs through it.

``located``: values with positions; ``yamlpos``: YAML/JSON text; ``model_config``: Python text, module-level
names evaluated by one evaluator; ``inherit``: the ``_base_`` chain and the merge.
"""
