"""``otxgen smoke``: smoke-build a model config and prove its backbone's feature maps fit the neck.

``expect``, ``check`` and ``report`` are pure (no torch); ``runtime``, ``synthetic``, ``steps`` and
``run`` import torch and mmengine and are imported only by the smoke command and the benchmark.
"""
