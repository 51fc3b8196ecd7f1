"""``otxgen lsp`` end to end over stdio, with pytest-lsp's real client: diagnostics on real configs
(ranges checked), a finding in a ``_base_`` file, hover, completion, the quick fix and the swap (equal to
what ``build`` writes), typing fast, bad input, a clean shutdown."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from click.testing import CliRunner
from lsprotocol import types as lsp
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from otxgen.cli import main

MMDET_CONFIGS = Path(str(resources.files("mmdet") / ".mim" / "configs"))
WRONG_NECK = """_base_ = ['../_base_/models/retinanet_r50_fpn.py']
# the neck reads a ResNet-50: these are a ResNet-18's widths
model = dict(neck=dict(in_channels=[64, 128, 256, 512]))
"""
APPLIED: list[lsp.ApplyWorkspaceEditParams] = []


@pytest_lsp.fixture(config=ClientServerConfig(server_command=[sys.executable, "-m", "otxgen", "lsp"]))  # type: ignore[untyped-decorator]
async def client(lsp_client: LanguageClient) -> Any:
    def apply_edit(params: lsp.ApplyWorkspaceEditParams) -> lsp.ApplyWorkspaceEditResult:
        APPLIED.append(params)
        return lsp.ApplyWorkspaceEditResult(applied=True)

    lsp_client.feature(lsp.WORKSPACE_APPLY_EDIT)(apply_edit)

    await lsp_client.initialize_session(lsp.InitializeParams(capabilities=client_capabilities("visual-studio-code")))
    yield
    await lsp_client.shutdown_session()


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """mmdet's shipped bases, and a folder for the configs a test writes beside them."""
    shutil.copytree(MMDET_CONFIGS / "_base_", tmp_path / "_base_")
    (tmp_path / "mine").mkdir()
    return tmp_path / "mine"


async def _open(client: LanguageClient, path: Path, text: str | None = None) -> list[lsp.Diagnostic]:
    text = path.read_text() if text is None else text
    client.text_document_did_open(lsp.DidOpenTextDocumentParams(lsp.TextDocumentItem(path.as_uri(), "python", 1, text)))
    await client.wait_for_notification(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    return list(client.diagnostics[path.as_uri()])


def _text_at(text: str, where: lsp.Range) -> str:
    """The text a range covers, its characters counted in UTF-16 units as LSP counts them."""
    lines = re.split(r"\r\n|\r|\n", text)
    if where.start.line == where.end.line:
        units = lines[where.start.line].encode("utf-16-le")
        return units[2 * where.start.character : 2 * where.end.character].decode("utf-16-le")
    first, last = lines[where.start.line][where.start.character :], lines[where.end.line][: where.end.character]
    return "\n".join([first, *lines[where.start.line + 1 : where.end.line], last])


async def test_a_wrong_neck_over_a_shipped_base_is_a_diagnostic_on_its_value(
    client: LanguageClient, workspace: Path
) -> None:
    path = workspace / "model.py"
    path.write_text(WRONG_NECK)
    found = await _open(client, path)
    channels = [d for d in found if d.code == "channels"]
    assert len(channels) == 1 and channels[0].source == "otxgen"
    assert channels[0].severity == lsp.DiagnosticSeverity.Error
    assert _text_at(WRONG_NECK, channels[0].range) == "[64, 128, 256, 512]"
    assert "[256, 512, 1024, 2048]" in channels[0].message


@pytest.mark.parametrize("value", ["[64, 128, 256, 512]", "list((64, 128, 256, 512))", "sorted([512, 256, 128, 64])"])
async def test_the_quick_fix_sets_what_the_backbone_gives_and_validate_then_agrees(
    client: LanguageClient, workspace: Path, value: str
) -> None:
    """The fix replaces the whole value, a call's arguments included (not its first word)."""
    path = workspace / "model.py"
    text = WRONG_NECK.replace("[64, 128, 256, 512]", value)
    path.write_text(text)
    found = await _open(client, path)
    actions = await client.text_document_code_action_async(
        lsp.CodeActionParams(
            lsp.TextDocumentIdentifier(path.as_uri()), found[0].range, lsp.CodeActionContext(diagnostics=found)
        )
    )
    fixes = [a for a in actions or [] if isinstance(a, lsp.CodeAction) and a.kind == lsp.CodeActionKind.QuickFix]
    assert len(fixes) == 1 and fixes[0].edit is not None and fixes[0].edit.changes is not None
    (edit,) = fixes[0].edit.changes[path.as_uri()]
    lines = text.split("\n")
    line = lines[edit.range.start.line]
    lines[edit.range.start.line] = line[: edit.range.start.character] + edit.new_text + line[edit.range.end.character :]
    path.write_text("\n".join(lines))
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 0, result.output


async def test_a_finding_in_a_base_is_shown_at_the_entry_that_brings_it(
    client: LanguageClient, workspace: Path
) -> None:
    (workspace / "base.py").write_text(WRONG_NECK)
    path = workspace / "child.py"
    text = "_base_ = ['./base.py']\nmodel = dict(bbox_head=dict(num_classes=3))\n"
    path.write_text(text)
    found = [d for d in await _open(client, path) if d.code == "channels"]
    assert len(found) == 1 and _text_at(text, found[0].range) == "base.py"
    assert found[0].message.startswith("in base.py: ")
    assert found[0].data is None, "no quick fix here: the value is in the base"
    (related,) = found[0].related_information or []
    assert related.location.uri == (workspace / "base.py").as_uri() and related.location.range.start.line == 2


async def test_a_backbone_yaml_typo_and_a_broken_base(client: LanguageClient, workspace: Path) -> None:
    yaml = workspace / "backbone.yaml"
    yaml.write_text("backbone:\n  type: mmdet.ResNet\n  dpeth: 50\n")
    found = await _open(client, yaml)
    assert [(d.code, d.range.start.line) for d in found if d.severity == lsp.DiagnosticSeverity.Error] == [
        ("unknown-argument", 2),
        ("required", 1),
    ] or any(d.code == "unknown-argument" and "depth" in d.message for d in found)
    broken = workspace / "broken.py"
    broken.write_text("_base_ = ['./missing.py']\nmodel = dict()\n")
    found = await _open(client, broken)
    assert len(found) == 1 and found[0].code == "unreadable" and "missing.py" in found[0].message


async def test_hover_shows_the_catalog_row_and_an_arguments_schema(client: LanguageClient, workspace: Path) -> None:
    path = workspace / "model.py"
    text = "model = dict(\n    backbone=dict(type='mmdet.RegNet', arch='regnetx_3.2gf'))\n"
    path.write_text(text)
    await _open(client, path)
    on_type = await client.text_document_hover_async(
        lsp.HoverParams(lsp.TextDocumentIdentifier(path.as_uri()), lsp.Position(1, text.split("\n")[1].index("RegNet")))
    )
    assert on_type is not None and isinstance(on_type.contents, lsp.MarkupContent)
    shown = on_type.contents.value
    assert "**mmdet.RegNet**" in shown and "mmdet/models/backbones/regnet.py" in shown
    assert "outputs: channels [96, 192, 432, 1008], strides [4, 8, 16, 32]" in shown  # the arch in use
    on_argument = await client.text_document_hover_async(
        lsp.HoverParams(lsp.TextDocumentIdentifier(path.as_uri()), lsp.Position(1, text.split("\n")[1].index("arch")))
    )
    assert on_argument is not None and isinstance(on_argument.contents, lsp.MarkupContent)
    assert "**arch** of mmdet.RegNet" in on_argument.contents.value and "regnetx_400mf" in on_argument.contents.value


async def test_completion_offers_types_arguments_and_values(client: LanguageClient, workspace: Path) -> None:
    path = workspace / "model.py"
    lines = [
        "model = dict(backbone=dict(type='mmdet.Reg",
        "model = dict(backbone=dict(type='mmdet.RegNet', arch='regnetx_4",
        "model = dict(backbone=dict(type='mmdet.RegNet', arch='regnetx_400mf', froz",
    ]
    path.write_text("\n".join(lines) + "\n")
    await _open(client, path)

    async def labels(line: int) -> list[str]:
        found = await client.text_document_completion_async(
            lsp.CompletionParams(lsp.TextDocumentIdentifier(path.as_uri()), lsp.Position(line, len(lines[line])))
        )
        items = found.items if isinstance(found, lsp.CompletionList) else found or []
        return [item.label for item in items]

    assert "mmdet.RegNet" in await labels(0)
    assert await labels(1) == ["regnetx_400mf", "regnetx_4.0gf"]
    assert await labels(2) == ["frozen_stages"]


def _new_text(edit: lsp.WorkspaceEdit | Any, uri: str) -> str:
    changes = edit["changes"] if isinstance(edit, dict) else edit.changes
    assert changes is not None
    (change,) = changes[uri]
    return str(change["newText"] if isinstance(change, dict) else change.new_text)


def _built(workspace: Path, before: str, backbone: str) -> str:
    """What ``otxgen build --backbone BACKBONE --model FILE --no-smoke`` writes from ``before``."""
    built = workspace / "built.py"
    built.write_text(before)
    result = CliRunner().invoke(main, ["build", "--backbone", backbone, "--model", str(built), "--no-smoke"])
    assert result.exit_code == 0, result.output
    return built.read_text()


async def test_swap_backbone_is_the_edit_build_writes(client: LanguageClient, workspace: Path) -> None:
    path = workspace / "model.py"
    shutil.copy(MMDET_CONFIGS / "retinanet" / "retinanet_r50_fpn_1x_coco.py", path)
    shutil.copy(MMDET_CONFIGS / "retinanet" / "retinanet_tta.py", workspace / "retinanet_tta.py")
    before = path.read_text()
    await _open(client, path)
    nowhere = lsp.Range(lsp.Position(0, 0), lsp.Position(0, 0))
    actions = await client.text_document_code_action_async(
        lsp.CodeActionParams(lsp.TextDocumentIdentifier(path.as_uri()), nowhere, lsp.CodeActionContext([]))
    )
    swaps = [a for a in actions or [] if isinstance(a, lsp.CodeAction) and a.title.startswith("Swap backbone to ")]
    assert len(swaps) == 3, actions
    chosen = swaps[0].title.removeprefix("Swap backbone to ")
    resolved = await client.code_action_resolve_async(swaps[0])
    assert resolved.edit is not None
    assert _new_text(resolved.edit, path.as_uri()) == _built(workspace, before, chosen) != before
    APPLIED.clear()
    edit = await client.workspace_execute_command_async(
        lsp.ExecuteCommandParams("otxgen.swapBackbone", [path.as_uri(), "mmdet.RegNet"])
    )
    assert APPLIED and APPLIED[0].label == "Swap backbone to mmdet.RegNet"
    assert _new_text(edit, path.as_uri()) == _built(workspace, before, "mmdet.RegNet") != before


async def test_typing_fast_publishes_the_last_version_only_and_bad_input_is_one_diagnostic(
    client: LanguageClient, workspace: Path
) -> None:
    path = workspace / "model.py"
    path.write_text(WRONG_NECK)
    await _open(client, path)
    uri = path.as_uri()
    for version in range(2, 7):
        text = WRONG_NECK.replace("64,", f"{version},")
        client.text_document_did_change(
            lsp.DidChangeTextDocumentParams(
                lsp.VersionedTextDocumentIdentifier(version, uri), [lsp.TextDocumentContentChangeWholeDocument(text)]
            )
        )
    published = await client.wait_for_notification(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    assert published.version == 6 and "[6, 128, 256, 512]" in published.diagnostics[0].message
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(client.wait_for_notification(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS), 1.0)
    client.text_document_did_change(
        lsp.DidChangeTextDocumentParams(
            lsp.VersionedTextDocumentIdentifier(7, uri), [lsp.TextDocumentContentChangeWholeDocument("model = dict(\n")]
        )
    )
    published = await client.wait_for_notification(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    assert len(published.diagnostics) == 1 and published.diagnostics[0].code == "unreadable"
    assert "invalid Python" in published.diagnostics[0].message
    client.text_document_did_change(
        lsp.DidChangeTextDocumentParams(
            lsp.VersionedTextDocumentIdentifier(8, uri), [lsp.TextDocumentContentChangeWholeDocument("x = '\x00'\n")]
        )
    )
    published = await client.wait_for_notification(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    assert [d.code for d in published.diagnostics] == ["unreadable"], "and the server keeps serving"


async def test_a_document_closed_while_checked_keeps_no_diagnostics(client: LanguageClient, workspace: Path) -> None:
    """A check that ends after ``didClose`` publishes nothing: the editor keeps the close's empty list
    (a large buffer, so that the check is still running when the close comes)."""
    path = workspace / "model.py"
    body = "".join(f"setting_{i} = dict(value={i}, name='s{i}')\n" for i in range(30000))
    path.write_text(WRONG_NECK + body)
    uri = path.as_uri()
    client.text_document_did_open(
        lsp.DidOpenTextDocumentParams(lsp.TextDocumentItem(uri, "python", 1, path.read_text()))
    )
    client.text_document_did_close(lsp.DidCloseTextDocumentParams(lsp.TextDocumentIdentifier(uri)))
    published = await client.wait_for_notification(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    assert published.uri == uri and list(published.diagnostics) == []
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(client.wait_for_notification(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS), 8.0)
    assert list(client.diagnostics[uri]) == []


@pytest.mark.parametrize(
    ("before", "ending"),
    [
        pytest.param("note='\U0001f600\U0001f600', ", "\n", id="characters past the BMP (two UTF-16 units each)"),
        pytest.param("", "\r\n", id="CRLF line endings"),
    ],
)
async def test_ranges_count_utf16_units_and_lsps_line_ends(
    client: LanguageClient, workspace: Path, before: str, ending: str
) -> None:
    path = workspace / "model.py"
    text = WRONG_NECK.replace("model = dict(neck=dict(", f"model = dict({before}neck=dict(").replace("\n", ending)
    text = text.replace("# the neck", "# the \u2028neck")  # a line separator to Python's splitlines, not to LSP
    path.write_bytes(text.encode())
    (channels,) = [d for d in await _open(client, path, text) if d.code == "channels"]
    assert _text_at(text, channels.range) == "[64, 128, 256, 512]"


async def test_a_crlf_file_and_a_link_swap_as_build_writes_them(client: LanguageClient, workspace: Path) -> None:
    real = workspace / "real.py"
    real.write_bytes(WRONG_NECK.replace("\n", "\r\n").encode())
    link = workspace / "link.py"
    os.symlink(real, link)
    await _open(client, link, real.read_bytes().decode())
    edit = await client.workspace_execute_command_async(
        lsp.ExecuteCommandParams("otxgen.swapBackbone", [link.as_uri(), "mmdet.RegNet"])
    )
    assert edit is not None, "a CRLF file on disk is the buffer: no 'save first'"
    new_text = _new_text(edit, link.as_uri())  # the open document's URI, not its target's
    built = workspace / "built.py"
    built.write_bytes(real.read_bytes())
    result = CliRunner().invoke(main, ["build", "--backbone", "mmdet.RegNet", "--model", str(built), "--no-smoke"])
    assert result.exit_code == 0 and new_text == built.read_bytes().decode(), result.output


async def test_requests_at_odd_places_are_answered(client: LanguageClient, workspace: Path) -> None:
    path = workspace / "model.py"
    path.write_text(WRONG_NECK)
    await _open(client, path)
    uri = lsp.TextDocumentIdentifier(path.as_uri())
    assert await client.text_document_hover_async(lsp.HoverParams(uri, lsp.Position(1, 500))) is None
    assert await client.text_document_hover_async(lsp.HoverParams(uri, lsp.Position(90, 0))) is None
    missing = lsp.TextDocumentIdentifier((workspace / "missing.py").as_uri())
    assert await client.text_document_hover_async(lsp.HoverParams(missing, lsp.Position(0, 0))) is None
    found = await client.text_document_completion_async(lsp.CompletionParams(uri, lsp.Position(2, 999)))
    assert found is not None
    assert await client.workspace_execute_command_async(lsp.ExecuteCommandParams("otxgen.swapBackbone")) is None
