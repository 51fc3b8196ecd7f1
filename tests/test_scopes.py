"""Defaults a backbone resolves only in its own library's registry scope (mmseg UNet's
``upsample_cfg=dict(type='InterpConv')``, built by mmcv in the default scope): found at export by
building the real backbone in the scope of no library, recorded in its schema, and written scoped where
the backbone goes into another library's config, so the model builds there."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from otxgen.cli import main
from otxgen.extract.scopes import scoped_defaults
from otxgen.schema import store


@pytest.mark.parametrize("backbone_type", ["mmseg.UNet", "mmpretrain.ConvNeXt", "mmseg.ResNet"])
def test_the_committed_schema_records_what_a_build_outside_the_scope_needs(backbone_type: str) -> None:
    """UNet does not build outside mmseg's scope unless its upsampling type is scoped; ConvNeXt's LN2d
    is looked up by mmpretrain's own builder and ResNet's layers are mmcv's: nothing to record."""
    schema = store.load_schema(backbone_type)
    found = scoped_defaults(backbone_type, schema["properties"], store.starting_arguments(schema))
    assert found == (schema["x-otxgen"].get("scoped_defaults") or {})
    assert bool(found) == (backbone_type == "mmseg.UNet")
    if found:
        assert found == {
            "upsample_cfg": {**schema["properties"]["upsample_cfg"]["default"], "type": "mmseg.InterpConv"}
        }


def test_unet_in_a_classifier_is_written_with_its_scoped_default_and_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    assert runner.invoke(main, ["build", "--task", "classification"]).exit_code == 0
    monkeypatch.chdir(tmp_path / "otx-workspace-CLASSIFICATION")
    result = runner.invoke(main, ["build", "--backbone", "mmseg.UNet", "--weights", "none"])
    assert result.exit_code == 0, result.output  # smoke-built: the whole model's forward ran
    assert "upsample_cfg=dict(type='mmseg.InterpConv')," in Path("model.py").read_text()
    assert runner.invoke(main, ["build", "--backbone", "mmseg.UNet", "--weights", "none", "--check"]).exit_code == 0
    validated = runner.invoke(main, ["validate", "model.py"])
    assert validated.exit_code == 0 and "note" not in validated.output, validated.output  # checked statically
