"""A probe that fails says what failed: the message of the error, or for a bare ``assert`` inside a
library the statement and where it is; the same reason from several tiers is said once.

PYTEST_DONT_REWRITE: ``check_stages`` must fail as a library's bare ``assert`` does, without a message.
"""

from __future__ import annotations

from typing import Any

import pytest

from otxgen import shapes


def check_stages(out_indices: tuple[int, ...], num_stages: int) -> None:
    assert max(out_indices) < num_stages


def failing(error: Exception) -> Any:
    def tier(backbone_cfg: dict[str, Any], input_size: int | None) -> Any:
        if isinstance(error, AssertionError):
            check_stages((0, 9), 4)
        raise error

    return tier


def test_a_bare_assert_is_described_by_its_statement_and_place() -> None:
    try:
        check_stages((0, 9), 4)
    except AssertionError as error:
        described = shapes.describe(error)
    assert described.startswith("AssertionError at test_probe_messages.py:")
    assert described.endswith(": assert max(out_indices) < num_stages")


def test_an_error_with_a_message_is_its_type_and_first_line() -> None:
    assert shapes.describe(TypeError("no argument 'x'\nmore")) == "TypeError: no argument 'x'"


def test_tiers_failing_alike_are_said_once(monkeypatch: pytest.MonkeyPatch) -> None:
    tiers = {"meta": failing(AssertionError()), "fake": failing(AssertionError()), "forward": failing(ValueError("b"))}
    monkeypatch.setattr(shapes, "_TIER_FUNCTIONS", tiers)
    with pytest.raises(shapes.ProbeError) as caught:
        shapes._probe_with_torch({"type": "mmdet.RegNet"}, "auto", None)
    message = str(caught.value)
    assert message.startswith("mmdet.RegNet: meta, fake: AssertionError at test_probe_messages.py:")
    assert message.endswith("assert max(out_indices) < num_stages; forward: ValueError: b")
