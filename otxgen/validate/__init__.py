"""Static validation of backbone.yaml files and model configs against the committed backbone schemas.

Pure layers, I/O only in ``otxgen.app.validate``:

- ``located``: values with the position of every key and value (``Located``), and ``Finding``;
- ``yamlpos``: YAML text -> ``Located`` (duplicate keys, alias bombs, tags refused);
- ``model_config``: model config text -> ``ConfigFacts`` (Python's syntax tree + literal evaluation; never executed);
- ``inherit``: ``ConfigFacts`` merged over its ``_base_`` files as mmengine merges them (read, never executed);
- ``check``: a backbone mapping + its schema -> findings; neck/head channels vs the schema's table;
- ``report``: findings -> text, JSON or GitHub annotations.

Nothing here imports torch or any mm* package.
"""
