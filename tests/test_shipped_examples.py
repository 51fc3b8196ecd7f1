"""Required arguments without options (TridentNet's branches, BiSeNet's context path, STDC's stages...)
take examples from the libraries' own shipped configs: each committed example is what a shipped config
says, builds and runs as a real backbone, and is what the matrix runs. Read from the installed libraries."""

from __future__ import annotations

import json
import shlex
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch
from click.testing import CliRunner
from jsonschema import Draft202012Validator

from otxgen.app.schema_export import _config_reader
from otxgen.cli import main
from otxgen.extract.signature import admit_shipped, jsonable, with_config_examples
from otxgen.facts.arguments import WEIGHTS_ARGS
from otxgen.libraries import get_adapter, split_type
from otxgen.libraries.mm_published import configs_root
from otxgen.matrix.plan import arch_choices
from otxgen.schema.store import load_index, load_schema, starting_arguments

WITH_EXAMPLES = sorted(
    entry["type"] for entry in load_index()["backbones"] if "examples_from" in load_schema(entry["type"])["x-otxgen"]
)


def _backbones_of(backbone_type: str, holder: Any) -> list[dict[str, Any]]:
    """Every dict of ``holder`` typed ``backbone_type`` (scoped or not), at any depth."""
    found = []
    if isinstance(holder, dict):
        if isinstance(holder.get("type"), str) and holder["type"].split(".")[-1] == split_type(backbone_type)[1]:
            found.append(holder)
        for value in holder.values():
            found += _backbones_of(backbone_type, value)
    return found


def test_the_shipped_configs_give_examples_to_the_backbones_that_need_input() -> None:
    assert {"mmdet.TridentResNet", "mmseg.BiSeNetV1", "mmseg.ICNet", "mmseg.STDCContextPathNet"} <= set(WITH_EXAMPLES)
    assert "mmseg.VPD" not in WITH_EXAMPLES  # its configs fetch class embeddings from an address


@pytest.mark.parametrize("backbone_type", WITH_EXAMPLES)
def test_each_example_is_a_shipped_config_s_backbone_without_its_weights(backbone_type: str) -> None:
    schema = load_schema(backbone_type)
    read = _config_reader()
    for example, source in zip(schema["examples"], schema["x-otxgen"]["examples_from"], strict=True):
        package, _, relative = source.partition("/")
        given = _backbones_of(backbone_type, (read(configs_root(package).parent / relative) or {}).get("model"))
        shipped = [{k: jsonable(v) for k, v in b.items() if k not in WEIGHTS_ARGS} for b in given]
        assert {**example, "type": split_type(backbone_type)[1]} in [
            {**b, "type": split_type(backbone_type)[1]} for b in shipped
        ]
        assert Draft202012Validator(schema).is_valid(example)


@pytest.mark.parametrize("backbone_type", WITH_EXAMPLES)
def test_the_first_example_builds_and_runs_and_is_the_matrix_s_cell(backbone_type: str) -> None:
    entry = next(e for e in load_index()["backbones"] if e["type"] == backbone_type)
    [(args, default)] = arch_choices(entry, all_options=False)
    assert default and all(value is not None for value in args.values())
    library, name = split_type(backbone_type)
    model = get_adapter(library).build(name, **args)
    model.eval()  # mmdet's ResNet.train returns None: not chained
    with torch.no_grad():
        outputs = model(torch.rand(1, 3, 128, 128))
    maps = outputs if isinstance(outputs, (tuple, list)) else [outputs]
    assert maps and all(isinstance(m, torch.Tensor) and m.shape[0] == 1 for m in maps)


def test_a_value_the_library_s_configs_give_is_admitted_whatever_the_docstring_says() -> None:
    """mmseg's STDCNet documents ``stdc_type (int)``; its configs give ``'STDCNet1'``."""
    schema: dict[str, Any] = {
        "properties": {"stdc_type": {"type": "integer", "description": "int, says the docstring"}, "depth": {}},
        "x-otxgen": {"required_args": {"stdc_type": []}},
    }
    admit_shipped(schema, [({"stdc_type": "STDCNet1", "depth": 18}, "mmseg/configs/stdc/a.py")])
    assert schema["properties"]["stdc_type"] == {
        "type": ["integer", "string"],
        "description": "int, says the docstring",
    }
    assert load_schema("mmseg.STDCNet")["properties"]["stdc_type"]["type"] == ["integer", "string"]


def test_examples_are_whole_configurations_most_used_first_without_weights_and_never_an_address() -> None:
    schema: dict[str, Any] = {
        "title": "lib.Net",
        "type": "object",
        "properties": {"type": {"const": "lib.Net"}, "a": {"type": "integer"}, "b": {"type": "string"}, "c": {}},
        "required": ["type", "a"],
        "x-otxgen": {"required_args": {"a": []}},
    }
    configured = [
        ({"a": 1, "b": "one", "init_cfg": {"type": "Pretrained", "checkpoint": "x.pth"}}, "lib/configs/first.py"),
        ({"a": 2, "b": "two"}, "lib/configs/second.py"),
        ({"a": 2, "b": "two", "pretrained": True}, "lib/configs/third.py"),  # timm would fetch weights
        ({"b": "three"}, "lib/configs/partial.py"),  # not valid: no example
        ({"a": 4, "c": "https://example.org/embeddings.pth"}, "lib/configs/fetches.py"),
    ]
    with_config_examples(schema, configured)
    assert schema["examples"] == [{"type": "lib.Net", "a": 2, "b": "two"}, {"type": "lib.Net", "a": 1, "b": "one"}]
    assert schema["x-otxgen"]["examples_from"] == ["lib/configs/second.py", "lib/configs/first.py"]
    assert starting_arguments(schema) == {"a": 2, "b": "two"}


def test_build_offers_the_shipped_configuration_in_backbone_yaml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The user still enters the argument (as OTX 1.x asked), with the shipped config's whole backbone to
    uncomment; uncommented, it builds and its whole model runs (the smoke-build)."""
    runner = CliRunner()
    monkeypatch.chdir(tmp_path)
    assert runner.invoke(main, ["build", "--task", "classification", "--workspace", "ws"]).exit_code == 0
    result = runner.invoke(main, ["build", "--backbone", "mmpretrain.TIMMBackbone", "--workspace", "ws"])
    assert result.exit_code == 1, result.output
    text = Path("ws/backbone.yaml").read_text()
    schema = load_schema("mmpretrain.TIMMBackbone")
    source, example = schema["x-otxgen"]["examples_from"][0], schema["examples"][0]
    assert f"# 'model_name' must be filled in; as {source} sets it, with the rest of its backbone:" in text
    assert f"#   model_name: {example['model_name']}" in text and "pretrained" not in text.split("must be")[1]
    assert "model_name: null" not in text  # left out of the mapping: uncommenting the example is all
    lines = [line for line in text.splitlines() if "must be filled in" not in line]
    Path("ws/backbone.yaml").write_text("\n".join(line.replace("#   ", "  ", 1) for line in lines) + "\n")
    built = runner.invoke(main, ["build", "--backbone", "ws/backbone.yaml", "--workspace", "ws"])
    assert built.exit_code == 0, built.output  # with its smoke-build: the whole model runs


def test_a_backbone_built_around_another_has_that_one_scoped_in_a_config_of_another_library(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """BiSeNetV1 builds its context path (``backbone_cfg=dict(type='ResNet', ...)``) in the default scope,
    the config's: in a classifier, mmpretrain's ResNet, which has no ``contract_dilation``."""
    monkeypatch.chdir(tmp_path)
    assert CliRunner().invoke(main, ["build", "--task", "classification", "--workspace", "ws"]).exit_code == 0
    starting = starting_arguments(load_schema("mmseg.BiSeNetV1"))
    args = [f"--set={name}={json.dumps(value)}" for name, value in starting.items()]
    result = CliRunner().invoke(main, ["build", "--backbone", "mmseg.BiSeNetV1", "--workspace", "ws", *args])
    assert result.exit_code == 0, result.output  # with its smoke-build
    text = Path("ws/model.py").read_text()
    assert "type='mmseg.BiSeNetV1'" in text and "type='mmseg.ResNet'" in text
    # what build wrote, build reads again: the same swap is up to date (the wrapper is written whole) ...
    again = CliRunner().invoke(main, ["build", "--backbone", "mmseg.BiSeNetV1", "--workspace", "ws", "--check", *args])
    assert again.exit_code == 0, again.output
    # ... and another type is refused with the reason: the model's parts are built for the wrapper's outputs
    other = CliRunner().invoke(main, ["build", "--backbone", "mmseg.MobileNetV3", "--workspace", "ws", "--no-smoke"])
    assert other.exit_code == 2 and "otxgen swaps it only for another of its type" in other.stderr, other.output


def test_without_a_backbone_yaml_to_edit_the_shipped_configuration_is_said_as_set_options(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert CliRunner().invoke(main, ["build", "--task", "classification", "--workspace", "ws"]).exit_code == 0
    result = CliRunner().invoke(main, ["build", "--backbone", "mmpretrain.TIMMBackbone", "--workspace", "ws", "--diff"])
    assert result.exit_code == 1, result.output
    schema = load_schema("mmpretrain.TIMMBackbone")
    source, name = schema["x-otxgen"]["examples_from"][0], schema["examples"][0]["model_name"]
    assert f"[!] As {source} sets it, with the rest of its backbone: " in result.stderr
    assert f"--set 'model_name=\"{name}\"'" in result.stderr


def test_the_set_options_said_are_the_whole_shipped_backbone_and_build_as_pasted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """STDC's context path needs its backbone_cfg and, made for it, its ffm_cfg: the options said for
    the missing argument alone gave a model whose fusion module expected other channels."""
    monkeypatch.chdir(tmp_path)
    assert CliRunner().invoke(main, ["build", "--task", "segmentation", "--workspace", "ws"]).exit_code == 0
    asked = CliRunner().invoke(main, ["build", "--backbone", "mmseg.STDCContextPathNet", "--workspace", "ws", "--diff"])
    assert asked.exit_code == 1, asked.output
    line = next(x for x in asked.stderr.splitlines() if "with the rest of its backbone: " in x)
    options = shlex.split(line.split("with the rest of its backbone: ", 1)[1])
    assert "ffm_cfg=" in " ".join(options)
    pasted = CliRunner().invoke(
        main, ["build", "--backbone", "mmseg.STDCContextPathNet", "--workspace", "ws", "--weights", "none", *options]
    )
    assert pasted.exit_code == 0, pasted.output  # with its smoke-build


def test_a_required_argument_without_a_shipped_example_is_said_with_the_schemas_own(tmp_path: Path) -> None:
    """mmdet's HRNet: its ``extra`` has the schema's own example (HRNet-W18) and no shipped configuration
    to offer: with ``--model`` (no backbone.yaml to edit) it is said as ``--set`` options too, which build."""
    import importlib

    configs = Path(importlib.import_module("mmdet").__file__ or "").parent / ".mim" / "configs"
    for folder in ("retinanet", "_base_"):
        shutil.copytree(configs / folder, tmp_path / folder)
    model = tmp_path / "retinanet" / "retinanet_r50_fpn_1x_coco.py"
    asked = CliRunner().invoke(main, ["build", "--backbone", "mmdet.HRNet", "--model", str(model), "--no-smoke"])
    assert asked.exit_code == 1, asked.output
    line = next(x for x in asked.stderr.splitlines() if "For example (the schema's): " in x)
    options = shlex.split(line.split("For example (the schema's): ", 1)[1])
    assert json.loads(options[1].partition("=")[2]) == load_schema("mmdet.HRNet")["properties"]["extra"]["examples"][0]
    pasted = CliRunner().invoke(
        main, ["build", "--backbone", "mmdet.HRNet", "--model", str(model), "--weights", "none", *options]
    )
    assert pasted.exit_code == 0, pasted.output  # with its smoke-build
