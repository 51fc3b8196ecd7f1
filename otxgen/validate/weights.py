"""What a model config's weights say, checked against the catalog (``otxgen.schema.published``):

- an ``init_cfg`` checkpoint that the catalog knows as another arch's (ResNet-101 weights on depth 18)
  is a warning: most of it would not load;
- ``init_cfg`` and ``pretrained`` both on a backbone that takes ``pretrained`` (the mm backbones refuse
  that: "init_cfg and pretrained cannot be specified at the same time"), and mmseg's ``model.pretrained``
  beside a backbone ``init_cfg`` (the segmentor hands it to the backbone), are errors.
"""

from __future__ import annotations

from typing import Any

from otxgen.config.located import Finding, JsonPath, Located, dotted
from otxgen.facts.checkpoints import checkpoints


def weights_findings(
    model: dict[str, Any], located: Located, instance: dict[str, Any], schema: dict[str, Any], library: str | None
) -> list[Finding]:
    base: JsonPath = ("model", "backbone")
    found = list(checkpoints(instance.get("init_cfg")))
    checkpoint = found[0][1] if found else None
    findings = []
    for index, address, _ in found:
        at: JsonPath = (*base, "init_cfg") if index is None else (*base, "init_cfg", index)
        findings += _other_arch(address, located, instance, schema, at)
    if checkpoint is not None and instance.get("pretrained") and "pretrained" in schema.get("properties", {}):
        message = "init_cfg and pretrained cannot be specified at the same time (the backbone refuses it): keep one"
        path = (*base, "pretrained")
        findings.append(Finding(located.where(path), dotted(path), message, code="weights-conflict"))
    if checkpoint is not None and library == "mmseg" and model.get("pretrained"):
        message = "model.pretrained is handed to the backbone, which also has an init_cfg checkpoint: keep one"
        findings.append(
            Finding(located.where(("model", "pretrained")), "model.pretrained", message, code="weights-conflict")
        )
    return findings


def _other_arch(
    checkpoint: str, located: Located, instance: dict[str, Any], schema: dict[str, Any], at: JsonPath
) -> list[Finding]:
    from otxgen.schema.published import arch_of, block_of, find

    found = find(schema, checkpoint)
    mine = arch_of(schema, instance)
    if found is None or mine is None or found[0].label == mine.label:
        return []
    if found[0].reshaped or mine.reshaped:  # sizes given by arguments: whether one's weights load into the other is
        return []  # a question of shapes (``build --weights``' ``fitting`` asks it; Swin-B-384's load into its P6)
    key = (block_of(schema) or {}).get("key")
    message = (
        f"{found[1].name} is a published checkpoint of {schema['title']} {key}={found[0].label}, not of "
        f"{key}={mine.label}: most of it would not load"
    )
    path = (*at, "checkpoint")
    return [Finding(located.where(path), dotted(path), message, "warning", code="weights")]
