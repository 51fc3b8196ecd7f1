"""The pure half of ``otxgen smoke``: expectations read from config dicts, level checks, rendering.
No torch: these run in milliseconds and pin the wording of every mismatch."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from otxgen.facts.consumers import fed_strides, prior_strides
from otxgen.facts.strides import stride_of
from otxgen.smoke.check import check_levels
from otxgen.smoke.expect import expectation
from otxgen.smoke.report import SmokeResult, Step, render_json, render_table, verdict

FPN_DETECTOR = {
    "type": "ATSS",
    "neck": {"type": "FPN", "in_channels": [24, 32, 96, 320], "start_level": 1, "num_outs": 5},
    "bbox_head": {"type": "ATSSHead", "anchor_generator": {"strides": [8, 16, 32, 64, 128]}},
}
MASK_RCNN = {
    "type": "MaskRCNN",
    "neck": {"type": "FPN", "in_channels": [256, 512, 1024, 2048], "num_outs": 5},
    "rpn_head": {"anchor_generator": {"strides": [4, 8, 16, 32, 64]}},
    "roi_head": {"bbox_roi_extractor": {"featmap_strides": [4, 8, 16, 32]}, "mask_head": {}},
}


def _maps(size: int, *levels: tuple[int, int]) -> list[tuple[int, ...] | None]:
    """(channels, stride) pairs -> (1, C, H, W) shapes at input side ``size``."""
    return [(1, c, -(-size // s), -(-size // s)) for c, s in levels]


@pytest.mark.parametrize(
    ("side", "map_side", "stride"), [(256, 64, 4), (224, 7, 32), (224, 2, 128), (100, 13, 8), (64, 0, None)]
)
def test_stride_of_rounds_like_strided_convs(side: int, map_side: int, stride: int | None) -> None:
    assert stride_of(side, map_side) == stride


def test_prior_strides_are_read_from_every_known_place() -> None:
    assert prior_strides(MASK_RCNN) == [
        ("rpn_head.anchor_generator.strides", [4, 8, 16, 32, 64]),
        ("roi_head.bbox_roi_extractor.featmap_strides", [4, 8, 16, 32]),
    ]
    assert prior_strides({"bbox_head": {"prior_generator": {"strides": [(8, 8), (16, 16)]}}}) == [
        ("bbox_head.prior_generator.strides", [8, 16])
    ]


def test_a_fitting_detector_has_no_problems() -> None:
    report = check_levels(
        _maps(256, (24, 4), (32, 8), (96, 16), (320, 32)), 256, expectation(FPN_DETECTOR, "detection")
    )
    assert report.ok
    assert [lv.expected for lv in report.levels] == [
        "24 ch",
        "32 ch, stride 8",
        "96 ch, stride 16",
        "320 ch, stride 32",
    ]


def test_wrong_channels_name_the_level_and_both_numbers() -> None:
    shapes = _maps(256, (24, 4), (32, 8), (64, 16), (320, 32))
    report = check_levels(shapes, 256, expectation(FPN_DETECTOR, "detection"))
    assert report.problems == ("level 2: 64 channels, neck FPN in_channels[2] expects 96",)
    assert [lv.ok for lv in report.levels] == [True, True, False, True]


def test_stride_4_fed_to_anchors_at_stride_8() -> None:
    shapes = _maps(256, (16, 2), (32, 4), (96, 8), (320, 16))
    detector = {**FPN_DETECTOR, "neck": {**FPN_DETECTOR["neck"], "in_channels": [16, 32, 96, 320]}}
    report = check_levels(shapes, 256, expectation(detector, "detection"))
    assert report.problems[0] == (
        "level 1: stride 4, bbox_head.anchor_generator.strides[0] (through FPN start_level=1) expects 8"
    )
    assert len(report.problems) == 3


def test_start_level_zero_maps_every_level() -> None:
    report = check_levels(
        _maps(256, (256, 4), (512, 8), (1024, 16), (2048, 32)), 256, expectation(MASK_RCNN, "instance-segmentation")
    )
    assert report.ok
    assert [lv.stride for lv in report.levels] == [4, 8, 16, 32]


def test_output_count_must_match_the_neck() -> None:
    report = check_levels(_maps(256, (32, 8), (96, 16), (320, 32)), 256, expectation(FPN_DETECTOR, "detection"))
    assert report.problems[0] == "the backbone gives 3 outputs, neck FPN expects 4 (in_channels has 4 entries)"
    assert "level 0: 32 channels, neck FPN in_channels[0] expects 24" in report.problems


def test_an_fpn_takes_no_more_levels_than_it_makes_outputs_from_its_start_level() -> None:
    """mmseg's FPN with five inputs and ``num_outs=4`` asserts as it is built (a TIMMBackbone's stride-2
    level on top of four), as mmdet's does; ``end_level`` set, it reads up to there and takes any number
    (tests/test_swap_real.py holds the rule to both libraries' FPN)."""
    neck = {"type": "FPN", "in_channels": [64, 64, 128, 256, 512], "out_channels": 256, "num_outs": 4}
    five = _maps(256, (64, 2), (64, 4), (128, 8), (256, 16), (512, 32))
    report = check_levels(five, 256, expectation({"neck": neck}, "segmentation"))
    assert report.problems == (
        "the backbone gives 5 outputs, neck FPN takes at most 4 (num_outs=4 from start_level=0)",
    )
    for fits in ({"num_outs": 5}, {"start_level": 1}, {"end_level": 4, "num_outs": 4}):
        assert check_levels(five, 256, expectation({"neck": {**neck, **fits}}, "segmentation")).ok, fits


def test_detection_strides_must_increase_strictly_but_dilated_segmentation_may_repeat() -> None:
    dilated = _maps(256, (256, 4), (512, 8), (1024, 8), (2048, 8))
    neck = {"type": "CustomNeck", "in_channels": [256, 512, 1024, 2048]}
    det = check_levels(dilated, 256, expectation({"neck": neck}, "detection"))
    assert "level 2: stride 8 after stride 8; strides must be strictly increasing" in det.problems
    head = {"type": "PSPHead", "in_channels": 2048, "in_index": 3}
    seg = check_levels(dilated, 256, expectation({"decode_head": head}, "segmentation"))
    assert seg.ok


def test_decode_head_in_index_must_exist() -> None:
    head = {"type": "FCNHead", "in_channels": [18, 36, 72, 144], "in_index": [0, 1, 2, 3]}
    report = check_levels(
        _maps(256, (18, 4), (36, 8), (72, 16)), 256, expectation({"decode_head": head}, "segmentation")
    )
    assert (
        "the backbone gives 3 outputs, decode_head FCNHead needs at least 4 (in_index (0, 1, 2, 3))" in report.problems
    )
    assert len(report.problems) == 1, "the count problem alone explains the missing output"


def test_negative_in_index_and_auxiliary_head() -> None:
    model = {
        "decode_head": {"type": "PSPHead", "in_channels": 2048},  # in_index defaults to -1: the last output
        "auxiliary_head": {"type": "FCNHead", "in_channels": 1024, "in_index": 2},
    }
    report = check_levels(_maps(256, (256, 4), (512, 8), (1000, 8), (2048, 8)), 256, expectation(model, "segmentation"))
    assert report.problems == ("level 2: 1000 channels, auxiliary_head FCNHead in_channels expects 1024",)


def test_pooled_vectors_are_not_feature_maps_for_dense_tasks() -> None:
    head = {"type": "FCNHead", "in_channels": 768, "in_index": -1}
    report = check_levels([(1, 768)], 224, expectation({"decode_head": head}, "segmentation"))
    assert report.problems == ("level 0: the output is shaped (1, 768), not a 4-D (N, C, H, W) feature map",)


def test_classification_pooling_neck_needs_a_map_and_head_reads_the_last_output() -> None:
    model = {"neck": {"type": "GlobalAveragePooling"}, "head": {"type": "LinearClsHead", "in_channels": 1280}}
    assert check_levels(_maps(224, (320, 32), (1280, 32)), 224, expectation(model, "classification")).ok
    pooled = check_levels([(1, 1280)], 224, expectation(model, "classification"))
    assert pooled.problems[0].startswith("level 0: the output is shaped (1, 1280), not a 4-D")
    wrong = check_levels(_maps(224, (960, 32)), 224, expectation(model, "classification"))
    assert wrong.problems == ("level 0: 960 channels, head LinearClsHead in_channels expects 1280",)


def test_a_classifier_reads_its_last_output_whatever_the_strides_before_and_pools_tokens_at_dim_1() -> None:
    """BiSeNetV2 gives its levels at strides 8, 4, 8, 16, 32; MLP-Mixer gives (N, C, L) tokens, which a
    pooling neck of ``dim=1`` pools (the plan sets it): neither is a problem for a classifier (nor for
    a segmentor, whose heads resize what they read: ``test_a_resizing_decode_head...``)."""
    model = {"neck": {"type": "GlobalAveragePooling"}, "head": {"type": "LinearClsHead", "in_channels": 128}}
    levels = _maps(224, (128, 8), (16, 4), (32, 8), (64, 16), (128, 32))
    assert check_levels(levels, 224, expectation(model, "classification")).ok
    fpn = {"neck": {"type": "FPN", "in_channels": [128, 16, 32, 64, 128]}}
    assert not check_levels(levels, 224, expectation(fpn, "detection")).ok  # a detector's pyramid grows
    tokens = {**model, "neck": {"type": "GlobalAveragePooling", "dim": 1}}
    assert check_levels([(1, 128, 196)], 224, expectation(tokens, "classification")).ok
    assert not check_levels([(1, 128, 196)], 224, expectation(model, "classification")).ok


def test_classification_without_neck_accepts_vectors_and_multitask_heads_share_in_channels() -> None:
    model = {"head": {"type": "MultiTaskHead", "in_channels": 768, "task_heads": {"a": {"type": "LinearClsHead"}}}}
    expected = expectation(model, "classification")
    assert check_levels([(1, 768)], 224, expected).ok
    nested = {"head": {"type": "MultiTaskHead", "task_heads": {"a": {"type": "LinearClsHead", "in_channels": 512}}}}
    assert check_levels([(1, 768)], 224, expectation(nested, "classification")).problems == (
        "level 0: 768 channels, head MultiTaskHead in_channels expects 512",
    )


def test_a_neck_of_a_list_uses_the_first_and_an_int_in_channels_reads_the_last_output() -> None:
    necks = [{"type": "CTResNetNeck", "in_channels": 512}, {"type": "Other"}]
    report = check_levels(_maps(256, (256, 16), (512, 32)), 256, expectation({"neck": necks}, "detection"))
    assert report.ok and [lv.expected for lv in report.levels] == ["-", "512 ch"]


def _result(problems: bool) -> SmokeResult:
    shapes = _maps(256, (24, 4), (32, 8), (64 if problems else 96, 16), (320, 32))
    levels = check_levels(shapes, 256, expectation(FPN_DETECTOR, "detection"))
    forward = Step("skipped", "the backbone's outputs do not fit") if problems else Step("ok", "", 0.5)
    train = Step("ok", "loss 1.2500, gradients reach 3/4 backbone tensors", 1.5, {"loss": 1.25})
    return SmokeResult(
        "model.py",
        "mmdet",
        "detection",
        "ATSS",
        "MobileNetV2",
        "cpu",
        256,
        "cpu",
        levels,
        forward,
        train if not problems else Step("skipped", "not requested"),
        {"build": 1.0, "backbone": 0.2},
        (),
    )


def test_table_and_verdict() -> None:
    table = render_table(_result(problems=False))
    lines = table.rstrip().splitlines()
    assert lines[0] == "model.py: ATSS (mmdet, detection), backbone MobileNetV2; shapes from a cpu forward at 256x256"
    assert lines[2].split() == ["Index", "Shape", "Channels", "Stride", "Expected", "OK"]
    assert lines[4].split()[-1] == "✓" and "32 ch, stride 8" in lines[4]
    assert lines[-1] == (
        "OK: ATSS with MobileNetV2: 4 backbone outputs fit; forward ok; "
        "train step loss 1.2500, gradients reach 3/4 backbone tensors [cpu, 256px, 1.2 s]"
    )
    bad = render_table(_result(problems=True)).rstrip().splitlines()
    assert bad[-1] == "MISMATCH: level 2: 64 channels, neck FPN in_channels[2] expects 96 [cpu, 256px, 1.2 s]"
    assert "  ✗ level 2: 64 channels, neck FPN in_channels[2] expects 96" in bad


def test_json_carries_levels_steps_and_verdict() -> None:
    payload = json.loads(render_json(_result(problems=True)))
    assert payload["ok"] is False
    assert payload["levels"][2] == {
        "index": 2,
        "shape": [1, 64, 16, 16],
        "channels": 64,
        "stride": 16,
        "expected": "96 ch, stride 16",
        "ok": False,
        "problems": ["level 2: 64 channels, neck FPN in_channels[2] expects 96"],
    }
    assert payload["forward"]["state"] == "skipped"
    assert payload["verdict"] == verdict(_result(problems=True))


def test_the_pure_modules_import_no_torch() -> None:
    code = "import sys, otxgen.smoke.report, otxgen.smoke.check, otxgen.app.smoke; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


YOLOV3 = {
    "type": "YOLOV3",
    "neck": {"type": "YOLOV3Neck", "num_scales": 3, "in_channels": [1024, 512, 256], "out_channels": [512, 256, 128]},
    "bbox_head": {"type": "YOLOV3Head", "prior_generator": {"strides": [32, 16, 8]}},
}


def test_yolov3_neck_reads_the_deepest_level_first() -> None:
    fitting = check_levels(_maps(256, (256, 8), (512, 16), (1024, 32)), 256, expectation(YOLOV3, "detection"))
    assert fitting.ok, fitting.problems
    assert [lv.expected for lv in fitting.levels] == ["256 ch, stride 8", "512 ch, stride 16", "1024 ch, stride 32"]
    shallow_first = check_levels(_maps(256, (1024, 8), (512, 16), (256, 32)), 256, expectation(YOLOV3, "detection"))
    assert shallow_first.problems[0] == "level 0: 1024 channels, neck YOLOV3Neck in_channels[2] expects 256"


SSD = {
    "type": "SingleStageDetector",
    "neck": {"type": "SSDNeck", "in_channels": [512, 1024], "out_channels": [512, 1024, 512, 256, 256, 256]},
    "bbox_head": {"type": "SSDHead", "anchor_generator": {"strides": [8, 16, 32, 64, 100, 300]}},
}


def test_ssd_neck_passes_its_inputs_through_so_they_keep_the_first_prior_strides() -> None:
    fitting = check_levels(_maps(300, (512, 8), (1024, 16)), 300, expectation(SSD, "detection"))
    assert fitting.ok, fitting.problems
    assert [lv.expected for lv in fitting.levels] == ["512 ch, stride 8", "1024 ch, stride 16"]
    coarse = check_levels(_maps(320, (512, 16), (1024, 32)), 320, expectation(SSD, "detection"))
    assert coarse.problems[0].startswith("level 0: stride 16, bbox_head.anchor_generator.strides[0]")


def test_an_fpn_reads_no_stride_past_its_end_level() -> None:
    detector = {**MASK_RCNN, "neck": {**MASK_RCNN["neck"], "end_level": 2}}
    report = check_levels(
        _maps(256, (256, 4), (512, 8), (1024, 16), (2048, 64)), 256, expectation(detector, "detection")
    )
    assert report.ok, report.problems
    assert fed_strides(detector) is None  # level 3 feeds no output: its stride is not said
    assert fed_strides(MASK_RCNN) == [4, 8, 16, 32]


def test_a_seg_head_with_listed_channels_and_no_in_index_reads_every_level() -> None:
    model = {"decode_head": {"type": "Mask2FormerHead", "in_channels": [96, 192, 384, 768]}}
    report = check_levels(_maps(256, (96, 4), (192, 8), (384, 16), (768, 32)), 256, expectation(model, "segmentation"))
    assert report.ok, report.problems


def test_a_window_pooling_head_needs_its_window_at_the_stride_of_the_last_level_it_reads() -> None:
    """LR-ASPP average-pools a 49-cell window over the last level it reads: at stride 8 the images must be
    at least 392 px, at 16 784; a smoke-build without a crop feeds it at least 392 rounded up to 32."""
    from otxgen.facts.consumers import POOLING_WINDOWS, pooling_windows
    from otxgen.smoke.runtime import default_input_size

    head = {"type": "mmseg.LRASPPHead", "in_channels": (16, 24, 960), "in_index": (0, 1, 2)}
    (window,) = pooling_windows({"decode_head": head}, [2, 4, 8])
    assert (window.path, window.cells, window.stride, window.least_side) == (("decode_head",), 49, 8, 392)
    assert pooling_windows({"decode_head": head}, [4, 8, 16])[0].least_side == 784
    assert pooling_windows({"decode_head": head | {"type": "FCNHead"}}, [4, 8, 16]) == []
    assert pooling_windows({"decode_head": head}, [4, 8]) == []  # a level it reads that is not there: not said
    side = default_input_size("segmentation", {"model": {"decode_head": head}})
    assert side == 416 and side >= POOLING_WINDOWS["LRASPPHead"] * 8
