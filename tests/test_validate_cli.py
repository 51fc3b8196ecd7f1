"""``otxgen validate`` end to end against the committed schemas: exit codes, formats, no heavy imports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib
from click.testing import CliRunner, Result

from otxgen.cli import main

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures" / "validate"
VALID_YAML = FIXTURES / "valid" / "yaml" / "backbone.yaml"
INVALID_YAML = FIXTURES / "invalid" / "yaml" / "backbone.yaml"
VALID_CONFIG = FIXTURES / "valid" / "config" / "model.py"
INVALID_CONFIG = FIXTURES / "invalid" / "config" / "model.py"
# libcst too: reading a config is Python's parser's work; only a rewrite needs libcst's tree
HEAVY = ("torch", "torchvision", "mmcv", "mmengine", "mmdet", "mmseg", "mmpretrain", "pytorchcv", "libcst")


def run(*args: str) -> Result:
    return CliRunner().invoke(main, ["validate", *args])


def test_committed_resnet_schema_is_what_the_fixtures_assume() -> None:
    schema = json.loads((ROOT / "schemas" / "mmdet" / "ResNet.json").read_text())
    assert schema["properties"]["depth"]["enum"] == [18, 34, 50, 101, 152]
    assert "depth" in schema["required"]


def test_invalid_backbone_yaml_gives_two_errors_with_lines_and_exit_1() -> None:
    result = run(str(INVALID_YAML))
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"{INVALID_YAML}:4:10: backbone.depth: 'fifty' is not one of [18, 34, 50, 101, 152]",
        f"{INVALID_YAML}:5:3: backbone.styel: mmdet.ResNet has no argument 'styel'; did you mean 'style'?",
    ]
    assert "2 errors in 1 file" in result.stderr


@pytest.mark.parametrize("path", [VALID_YAML, VALID_CONFIG])
def test_valid_inputs_exit_0_without_findings(path: Path) -> None:
    result = run(str(path))
    assert (result.exit_code, result.stdout) == (0, "")


def test_invalid_model_config_reports_key_and_neck_channels() -> None:
    result = run(str(INVALID_CONFIG))
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"{INVALID_CONFIG}:9:9: model.backbone.styel: mmdet.ResNet has no argument 'styel'; did you mean 'style'?",
        (
            f"{INVALID_CONFIG}:10:39: model.neck.in_channels: [256, 512, 1024, 2048] does not match the backbone's "
            "output channels [64, 128, 256, 512]"
        ),
    ]


@pytest.mark.parametrize(
    ("name", "position"),
    [("duplicate.yaml", ":4:3: "), ("latin1.yaml", ":3:25: "), ("syntax.py", ":2:18: "), ("bomb.yaml", ":")],
)
def test_unreadable_input_exits_2_with_position(name: str, position: str) -> None:
    path = FIXTURES / "unreadable" / name
    result = run(str(path))
    assert result.exit_code == 2
    assert result.stdout.startswith(f"{path}{position}")


def test_missing_path_exits_2_and_other_files_are_still_checked(tmp_path: Path) -> None:
    result = run(str(tmp_path / "nope.yaml"), str(INVALID_YAML))
    assert result.exit_code == 2
    assert result.stdout.splitlines()[0].startswith(f"{tmp_path / 'nope.yaml'}: no such file")
    assert "backbone.depth" in result.stdout


def test_directory_walk_finds_backbone_yaml_and_model_configs() -> None:
    result = run(str(FIXTURES / "valid"))
    assert result.exit_code == 0
    assert "0 errors in 2 files" in result.stderr
    result = run(str(FIXTURES / "invalid"))
    assert result.exit_code == 1
    assert "4 errors in 2 files" in result.stderr


def test_github_annotations() -> None:
    result = run("--output-format", "github", str(INVALID_YAML))
    assert result.exit_code == 1
    assert result.stdout.splitlines()[0] == (
        f"::error file={INVALID_YAML},line=4,col=10,title=otxgen validate (schema)::backbone.depth: 'fifty' is not "
        "one of [18, 34, 50, 101, 152]"
    )


def test_json_report() -> None:
    result = run("--output-format", "json", str(INVALID_YAML), str(VALID_YAML))
    report = json.loads(result.stdout)
    assert (result.exit_code, report["valid"], report["files"]) == (1, False, 2)
    assert [(f["line"], f["col"], f["path"], f["code"]) for f in report["findings"]] == [
        (4, 10, "backbone.depth", "schema"),
        (5, 3, "backbone.styel", "unknown-argument"),
    ]


def test_validate_imports_neither_torch_nor_mm_packages_nor_libcst() -> None:
    script = f"""
import json, sys
from otxgen.cli import main
try:
    main(["validate", {str(INVALID_YAML)!r}, {str(INVALID_CONFIG)!r}])
except SystemExit as exit:
    code = exit.code
heavy = sorted(m for m in sys.modules if m.split(".")[0] in {HEAVY!r})
print(json.dumps({{"code": code, "heavy": heavy}}))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False, cwd=ROOT)
    report = json.loads(done.stdout.splitlines()[-1])
    assert report == {"code": 1, "heavy": []}


def test_the_command_run_as_a_process_exits_with_the_code_and_output_of_main() -> None:
    """The console script and ``python -m otxgen`` run ``run``: ``main`` in a process that freezes its
    objects on the way out; its exit code and its output come through."""
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"otxgen": "otxgen.cli:run"}
    command = [sys.executable, "-m", "otxgen", "validate", str(INVALID_YAML)]
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT)
    assert done.returncode == 1
    assert done.stdout == run(str(INVALID_YAML)).stdout


INHERIT = FIXTURES / "inherit"


def test_base_files_are_followed_and_a_missing_one_is_unreadable_input() -> None:
    result = run(str(INHERIT / "missing.py"))
    assert result.exit_code == 2
    assert result.stdout.splitlines() == [
        f"{INHERIT / 'missing.py'}:1:36: _base_ file {INHERIT / '_base_' / 'nope.py'} cannot be read: no such file"
    ]
    result = run(str(INHERIT / "depth_fifty.py"))
    assert result.exit_code == 1
    assert result.stdout.splitlines()[0] == (
        f"{INHERIT / 'depth_fifty.py'}:2:34: model.backbone.depth: 'fifty' is not one of [18, 34, 50, 101, 152]"
    )


def test_a_base_file_finding_is_said_once_per_run() -> None:
    result = run(str(INHERIT / "_base_" / "bad_base.py"), str(INHERIT / "from_bad_base.py"))
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"{INHERIT / '_base_' / 'bad_base.py'}:5:44: model.backbone.styel: mmdet.ResNet has no argument 'styel'; "
        "did you mean 'style'?"
    ]
    assert "1 error in 2 files" in result.stderr


def test_base_files_are_read_never_executed(tmp_path: Path) -> None:
    marker = tmp_path / "executed"
    (tmp_path / "base.py").write_text(
        f"open({str(marker)!r}, 'w').close()\nraise SystemExit(9)\n"
        "default_scope = 'mmdet'\nmodel = dict(backbone=dict(type='ResNet', depth=50))\n"
    )
    (tmp_path / "odd.py").write_text("_base_ = ['base.py', 'a\\x00b.py']\nmodel = dict(backbone=dict(depth=18))\n")
    (tmp_path / "child.py").write_text("_base_ = 'base.py'\nmodel = dict(backbone=dict(depth=51))\n")
    result = run(str(tmp_path / "child.py"), str(tmp_path / "odd.py"))
    assert not marker.exists()
    assert result.exit_code == 2  # odd.py's second base cannot be read
    assert result.stdout.splitlines()[0] == (
        f"{tmp_path / 'child.py'}:2:34: model.backbone.depth: 51 is not one of [18, 34, 50, 101, 152]"
    )
    assert "cannot be read: embedded null byte" in result.stdout


def test_a_byte_order_mark_is_fine_in_yaml_but_refused_in_a_python_config(tmp_path: Path) -> None:
    """mmengine reads YAML through PyYAML (which skips a BOM) but compiles Python, which refuses U+FEFF."""
    (tmp_path / "backbone.yaml").write_bytes(b"\xef\xbb\xbf" + VALID_YAML.read_bytes())
    assert (run(str(tmp_path / "backbone.yaml")).exit_code, run(str(tmp_path / "backbone.yaml")).stdout) == (0, "")
    (tmp_path / "model.py").write_bytes(b"\xef\xbb\xbf" + VALID_CONFIG.read_bytes())
    result = run(str(tmp_path / "model.py"))
    assert result.exit_code == 2
    assert result.stdout.startswith(f"{tmp_path / 'model.py'}:1:1: starts with a byte order mark (U+FEFF)")


def test_a_checkpoint_in_an_init_cfg_list_is_checked_like_a_dict(tmp_path: Path) -> None:
    from otxgen.schema.published import archs
    from otxgen.schema.store import load_schema

    schema = load_schema("mmpretrain.ResNet")
    other = next(c for a in archs(schema) if "101" in a.labels for c in a.checkpoints if c.url)
    config = tmp_path / "model.py"
    config.write_text(
        "default_scope = 'mmpretrain'\n"
        "model = dict(\n"
        "    type='ImageClassifier',\n"
        "    backbone=dict(type='ResNet', depth=18, init_cfg=[\n"
        "        dict(type='Kaiming', layer='Conv2d'),\n"
        f"        dict(type='Pretrained', checkpoint='{other.url}'),\n"
        "    ]),\n"
        "    neck=dict(type='GlobalAveragePooling'),\n"
        "    head=dict(type='LinearClsHead', num_classes=10, in_channels=512),\n"
        ")\n"
    )
    result = run(str(config))
    assert result.exit_code == 0, result.stdout
    assert f"{config}:6:44: warning: model.backbone.init_cfg[1].checkpoint: " in result.stdout
    assert "depth=101, not of depth=18" in result.stdout


def test_the_summary_counts_every_file_named(tmp_path: Path) -> None:
    """A named file validate does not read (not a config) is still a file of the run: '1 error in 1
    file', not '1 error in 0 files'; with a config beside it, two files."""
    notes = tmp_path / "notes.txt"
    notes.write_text("not a config\n")
    backbone = tmp_path / "backbone.yaml"
    backbone.write_text("backbone:\n  type: mmdet.ResNet\n  depth: 7\n")
    alone = CliRunner().invoke(main, ["validate", str(notes)])
    assert alone.exit_code == 2 and "1 error in 1 file" in alone.stderr, alone.output
    both = CliRunner().invoke(main, ["validate", str(notes), str(backbone)])
    assert "2 errors in 2 files" in both.stderr, both.output


def test_a_finding_on_a_model_changed_after_its_definition_is_a_note(tmp_path: Path) -> None:
    """The check reads the definition; ``+=`` after it makes the neck's three channels the four that fit,
    which mmengine loads and runs: what the definition gets wrong is not an error there."""
    config = tmp_path / "model.py"
    config.write_text(
        "default_scope = 'mmdet'\n"
        "model = dict(\n"
        "    type='RetinaNet',\n"
        "    backbone=dict(type='ResNet', depth=50, out_indices=(0, 1, 2, 3)),\n"
        "    neck=dict(type='FPN', in_channels=[256, 512, 1024], out_channels=256, num_outs=5))\n"
        "model['neck']['in_channels'] += [2048]\n"
    )
    result = run(str(config))
    assert result.exit_code == 0, result.stdout
    assert f"{config}:5:39: note: model.neck.in_channels: [256, 512, 1024] does not match" in result.stdout
    assert "(as defined; \"model['neck']['in_channels'] += [2048]\" changes the model" in result.stdout


def test_a_merge_the_definition_would_clash_in_is_a_note_when_a_later_statement_changes_the_model(
    tmp_path: Path,
) -> None:
    """``_delete_`` set after the definition lets mmengine merge the dict over the base's list."""
    (tmp_path / "base.py").write_text(
        "model = dict(type='ImageClassifier', backbone=dict(type='mmpretrain.ResNet', depth=18,\n"
        "    init_cfg=[dict(type='Kaiming', layer='Conv2d')]))\n"
    )
    config = tmp_path / "model.py"
    config.write_text(
        "_base_ = './base.py'\n"
        "model = dict(backbone=dict(init_cfg=dict(type='Pretrained', checkpoint='r18.pth')))\n"
        "model['backbone']['init_cfg']['_delete_'] = True\n"
    )
    result = run(str(config))
    assert result.exit_code == 0, result.stdout
    assert f"{config}:2:37: note: model.backbone.init_cfg: model.backbone.init_cfg is a dict here" in result.stdout
    assert "(as defined; \"model['backbone']['init_cfg']['_delete_'] = True\" changes the model" in result.stdout


def test_a_key_the_files_own_value_lacks_is_the_keyerror_mmengine_stops_with(tmp_path: Path) -> None:
    """``model['backbone'][...] = ...`` where the file's own model has no backbone: mmengine runs each file
    before merging its bases, so it stops with a KeyError; in a base, every config built on it does."""
    from mmengine.config import Config

    (tmp_path / "base.py").write_text(
        "model = dict(type='RetinaNet', neck=dict(type='FPN', in_channels=[256, 512], out_channels=256))\n"
        "model['backbone']['out_indices'] = (1, 2, 3)\n"
    )
    child = tmp_path / "child.py"
    child.write_text("_base_ = ['./base.py']\nmodel = dict(backbone=dict(type='mmdet.ResNet', depth=50))\n")
    for config in (child, tmp_path / "base.py"):
        with pytest.raises(KeyError):
            Config.fromfile(str(config))
    result = run(str(child), str(tmp_path / "base.py"))
    assert result.exit_code == 2, result.stdout
    assert f"{child}:1:11: _base_ file {tmp_path / 'base.py'}:2:7: KeyError: model has no 'backbone'" in result.stdout
    assert f"{tmp_path / 'base.py'}:2:7: KeyError: model has no 'backbone' when mmengine runs" in result.stdout


def test_a_builtin_called_on_the_model_changes_the_model_and_one_bound_anew_is_named(tmp_path: Path) -> None:
    model = "model = dict(type='RetinaNet', backbone=dict(type='mmdet.ResNet', depth=50))\n"
    called, bound = tmp_path / "called.py", tmp_path / "bound.py"
    called.write_text(model + "dict.update(model, neck=None)\n")
    bound.write_text("def dict(**kw):\n    return kw\n" + model)
    said = run(str(called), str(bound)).stdout
    assert "'dict.update(model, neck=None)' changes the model after its definition" in said
    assert "'def dict(**kw):' binds dict, a builtin otxgen reads dict(...) as" in said


@pytest.mark.parametrize(
    ("after", "fails"),
    [
        ("model['backbone'] = dict(depth=18)\nmodel['backbone']['frozen_stages'] = 1\n", False),
        ("model.update(backbone=dict(depth=18))\nmodel['backbone']['frozen_stages'] = 1\n", False),
        ("model.setdefault('backbone', dict(depth=18))\nmodel['backbone']['frozen_stages'] = 1\n", False),
        ("model['backbone'].update(frozen_stages=1)\n", True),
    ],
)
def test_a_key_error_is_said_only_where_the_files_own_value_is_known_to_lack_it(
    tmp_path: Path, after: str, fails: bool
) -> None:
    """A statement the reading does not follow may add the key (the first three load): no error after one."""
    from mmengine.config import Config

    config = tmp_path / "model.py"
    config.write_text("model = dict(type='ImageClassifier', head=dict(num_classes=10))\n" + after)
    try:
        Config.fromfile(str(config))
        loads = True
    except KeyError:
        loads = False
    assert loads is not fails
    result = run(str(config))
    assert ("KeyError: model has no 'backbone'" in result.stdout) is fails, result.stdout


def test_a_reading_key_given_by_an_expression_the_view_does_not_compute_is_a_note(tmp_path: Path) -> None:
    config = tmp_path / "model.py"
    config.write_text(
        "default_scope = 'mmdet'\n"
        "model = dict(\n"
        "    type='RetinaNet',\n"
        "    backbone=dict(type='ResNet', depth=50, out_indices=(0, 1, 2, 3)),\n"
        "    neck=dict(type='FPN', in_channels=[c for c in (256, 512, 1024, 2048) if c], out_channels=256))\n"
    )
    result = run(str(config))
    assert result.exit_code == 0, result.stdout
    assert f"{config}:5:39: note: model.neck.in_channels: cannot check statically" in result.stdout
