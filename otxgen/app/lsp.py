"""``otxgen lsp``: validate's findings, the catalog and the swap inside an editor, over the Language
Server Protocol (stdio, or ``--tcp PORT`` on 127.0.0.1). Needs the ``[lsp]`` extra (pygls, lsprotocol).

Every answer comes from the code the commands run, on the editor's unsaved text:

- diagnostics are ``validate_text``'s findings (``validate PATH``), with their ``code``; a finding in a
  ``_base_`` file is shown at the ``_base_`` entry that brings it in, pointing into the base;
- hover on a backbone ``type`` shows the catalog's row (library, source, required arguments, the
  channel/stride table of the arch in use, params, GFLOPs, top-1, checkpoints, the matrix's verdict
  for the config's task); on an argument name, its schema (type, default, values, docstring);
- completion offers backbone types, the arguments of the type in use not yet set, and the values of
  an argument with a fixed set;
- code actions: the consumer's channels set to what the backbone gives (validate's own expected value),
  and "Swap backbone to ..." (command ``otxgen.swapBackbone``, any type): the edit of every file
  ``build --backbone TYPE --model FILE --no-smoke --diff`` would change, from ``planned_writes``.

Never executes a config, never imports torch; ``_base_`` files are read from disk on every check.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from otxgen.app import Outcome, Say
from otxgen.config.located import Finding
from otxgen.errors import MissingExtraError, OtxgenError
from otxgen.fsio import MAX_BYTES

if TYPE_CHECKING:
    from lsprotocol import types as lsp
    from pygls.lsp.server import LanguageServer

SOURCE = "otxgen"
SWAP_COMMAND = "otxgen.swapBackbone"
DEBOUNCE_SECONDS = 0.01  # typing: a change waits this long (one check runs at a time; it ends on the latest)
SWAP_CHOICES = 3  # "Swap backbone to ..." actions offered: catalog types that pass the matrix for the task
_TYPE_VALUE = re.compile(r"""\btype\s*[=:]\s*['"]?([\w.\-]*)$""")
_ARGUMENT_VALUE = re.compile(r"""\b(\w+)\s*[=:]\s*['"]?([\w.\-]*)$""")
_ARGUMENT_NAME = re.compile(r"""(?:^|[(,{])\s*(\w*)$""")
_YAML_BACKBONE = re.compile(r"^([ \t]*)backbone:[ \t]*\n((?:\1[ \t]+.*(?:\n|$))*)", re.MULTILINE)
_BACKBONE_OPENING = re.compile(r"""\bbackbone\s*(?:=\s*dict\s*\(|:\s*\{?|=\s*\{)\s*$""")


def serve(tcp: int | None, say: Say) -> Outcome:
    server = make_server()
    if tcp is not None:
        say(f"[*] otxgen lsp on 127.0.0.1:{tcp}")
        server.start_tcp("127.0.0.1", tcp)
    else:
        server.start_io()
    return Outcome()


# --- what the editor is told: pure functions of a document's text ---------------------------------


@dataclass(frozen=True)
class Place:
    """A range in a document, 0-based lines and characters (LSP's)."""

    line: int
    start: int
    end_line: int
    end: int


def findings_for(text: str, file: str) -> list[Finding]:
    """validate's findings for the buffer ``text`` of ``file``; what cannot be read at all (too large,
    binary) is one finding, as ``validate`` says it of a file."""
    from otxgen.app.validate import _base_files, validate_text
    from otxgen.config.located import Where
    from otxgen.schema.store import StoreCatalog

    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        message = f"file is larger than {MAX_BYTES // (1024 * 1024)} MiB"
        return [Finding(Where(file, 1, 1), "", message, unreadable=True, code="unreadable")]
    if "\x00" in text:
        return [Finding(Where(file, 1, 1), "", "binary file (NUL bytes)", unreadable=True, code="unreadable")]
    return validate_text(text, file, StoreCatalog(), _base_files())  # bases read again each time


def extent(lines: Sequence[str], line: int, col: int) -> Place:
    """The range of the value that starts at ``line``:``col`` (0-based): a string to its closing quote,
    a bracketed value to its closing bracket, else a word with the calls and indexes that follow it
    (``list((64, 128))``, ``cfg['a'].b``); one character at least."""
    if not 0 <= line < len(lines):
        return Place(max(len(lines) - 1, 0), 0, max(len(lines) - 1, 0), 0)
    text = lines[line]
    col = min(col, len(text))
    head = text[col : col + 1]
    if head in "'\"" and head:
        close = text.find(head, col + 1)
        return Place(line, col, line, close + 1 if close > 0 else len(text))
    if head and head in "([{":
        return _bracketed(lines, line, col)
    word = re.match(r"[\w.+\-]*", text[col:])
    place = Place(line, col, line, col + max(len(word.group(0)) if word else 0, 1))
    while place.end < len(lines[place.end_line]) and lines[place.end_line][place.end] in "([":
        called = _bracketed(lines, place.end_line, place.end)
        tail = re.match(r"[\w.]*", lines[called.end_line][called.end :]) if called.end_line < len(lines) else None
        place = Place(line, col, called.end_line, called.end + (len(tail.group(0)) if tail else 0))
    return place


def _bracketed(lines: Sequence[str], line: int, col: int) -> Place:
    depth, quote = 0, ""
    for number in range(line, len(lines)):
        text = lines[number]
        for position in range(col if number == line else 0, len(text)):
            char = text[position]
            if quote:
                quote = "" if char == quote and text[position - 1] != "\\" else quote
            elif char in "'\"":
                quote = char
            elif char == "#":
                break
            elif char in "([{":
                depth += 1
            elif char in ")]}":
                depth -= 1
                if depth == 0:
                    return Place(line, col, number, position + 1)
    return Place(line, col, line, len(lines[line]))


def base_entry(lines: Sequence[str], base_file: str) -> Place:
    """Where the buffer's ``_base_`` names ``base_file`` (its file name, outside comments, from the
    ``_base_`` line on; else the ``_base_`` name itself)."""
    name = Path(base_file).name
    first = next((n for n, text in enumerate(lines) if re.match(r"\s*_base_\s*[=:]", text)), None)
    if first is None:
        return Place(0, 0, 0, 0)
    for number in range(first, len(lines)):
        code = lines[number].split("#", 1)[0]
        column = code.find(name)
        if column >= 0:
            return Place(number, column, number, column + len(name))
    column = lines[first].find("_base_")
    return Place(first, column, first, column + len("_base_"))


def word_at(lines: Sequence[str], line: int, col: int) -> tuple[str, int, bool]:
    """The word (letters, digits, ``_ . -``) under the cursor, where it starts, and whether it is
    inside a string."""
    if not 0 <= line < len(lines):
        return "", 0, False
    text = lines[line]
    start = col = max(0, min(col, len(text)))
    while start > 0 and re.match(r"[\w.\-]", text[start - 1]):
        start -= 1
    end = col
    while end < len(text) and re.match(r"[\w.\-]", text[end]):
        end += 1
    quoted = start > 0 and text[start - 1] in "'\""
    return text[start:end], start, quoted


def backbone_type_at(lines: Sequence[str], line: int, col: int) -> str | None:
    """The ``type`` of the backbone mapping that encloses the cursor (``backbone=dict(...)`` in a
    model config, ``backbone:`` in a backbone.yaml), read from the text: the buffer may not parse
    while it is typed."""
    text = "\n".join(lines)
    opener = _backbone_opener(text, sum(len(number) + 1 for number in lines[:line]) + col)
    if opener is not None:
        return _type_in(text[opener:])
    block = _YAML_BACKBONE.search(text)  # a YAML ``backbone:`` block (backbone.yaml, a YAML config)
    found = re.search(r"^\s+type:\s*['\"]?([\w.\-]+)", block.group(2), re.MULTILINE) if block else None
    return found.group(1) if found else None


def _backbone_opener(text: str, offset: int) -> int | None:
    """Where the backbone mapping that holds ``offset`` opens, when the innermost bracket around it is
    that mapping's (not a ``norm_cfg``'s or a list's)."""
    depth, position = 0, offset - 1
    while position >= 0:
        char = text[position]
        if char in ")]}":
            depth += 1
        elif char in "([{":
            if depth == 0:
                found = _BACKBONE_OPENING.search(text[max(0, position - 40) : position + 1])
                return position if found else None
            depth -= 1
        position -= 1
    return None


def _type_in(body: str) -> str | None:
    depth = 0
    for match in re.finditer(r"""[()\[\]{}]|\btype\s*[=:]\s*['"]([\w.\-]+)['"]""", body):
        token = match.group(0)
        if token in "([{":
            depth += 1
        elif token in ")]}":
            depth -= 1
            if depth == 0:
                return None
        elif depth == 1:
            return match.group(1)
    return None


def hover_text(lines: Sequence[str], line: int, col: int, file: str) -> str | None:
    """Markdown for what is under the cursor: a backbone type (quoted), or an argument of the backbone
    that encloses it; None for anything else."""
    from otxgen.schema.store import StoreCatalog

    word, start, quoted = word_at(lines, line, col)
    if not word:
        return None
    catalog = StoreCatalog()
    if quoted or re.search(r"\btype\s*:\s*$", lines[line][:start]):  # 'mmdet.ResNet', or YAML's type: mmdet.ResNet
        resolved = _resolve(word, catalog)
        return _type_card(resolved, lines, file, catalog) if resolved else None
    owner = backbone_type_at(lines, line, start)
    resolved = _resolve(owner, catalog) if owner else None
    if resolved is None:
        return None
    prop = catalog.schema(resolved).get("properties", {}).get(word)
    return _argument_card(resolved, word, prop) if prop is not None else None


def _resolve(raw: str | None, catalog: Any) -> str | None:
    from otxgen.schema.resolve import resolve_type

    if not raw:
        return None
    for library in (None, "mmdet", "mmseg", "mmpretrain"):
        found = resolve_type(raw, library, catalog)
        if found.type is not None:
            return str(found.type)
    return None


def _type_card(backbone_type: str, lines: Sequence[str], file: str, catalog: Any) -> str:
    from otxgen.schema.published import archs
    from otxgen.schema.table import ChannelTable, Unknown

    schema = catalog.schema(backbone_type)
    extension = schema["x-otxgen"]
    parts = [f"**{backbone_type}** ({extension['library']} {extension.get('library_version', '')})".rstrip()]
    parts.append(f"defined in `{extension.get('source', '?')}`")
    required = extension.get("required_args") or {}
    for argument, options in required.items():
        shown = ", ".join(map(str, options)) if options else "(no options: your input)"
        parts.append(f"required `{argument}`: {shown}")
    arguments = _arguments_in_text(lines, backbone_type)
    rows = ChannelTable.of(arguments, schema, catalog).outputs(arguments)
    if not isinstance(rows, Unknown):
        channels = [int(row["channels"]) for row in rows]
        strides = [row.get("stride") for row in rows]
        parts.append(f"outputs: channels {channels}, strides {strides}")
    for arch in archs(schema)[:12]:
        label = "/".join(arch.labels)
        params = f"{arch.params.value / 1e6:.2f} M params" if arch.params.value else ""
        gflops = f"{arch.gflops.value:.2f} GFLOPs" if arch.gflops.value else ""
        top1 = f"top-1 {arch.top1:.2f}" if arch.top1 is not None else ""
        weights = f"{len(arch.checkpoints)} checkpoint(s)" if arch.checkpoints else ""
        parts.append("- " + ", ".join(x for x in (label, params, gflops, top1, weights) if x))
    verdict = _verdict(backbone_type, lines, file)
    if verdict:
        parts.append(verdict)
    return "\n\n".join(parts)


def _arguments_in_text(lines: Sequence[str], backbone_type: str) -> dict[str, Any]:
    """The backbone's literal arguments as the buffer writes them (for the table of the arch in use)."""
    from otxgen.config.model_config import read_config

    try:
        facts = read_config("\n".join(lines), "buffer.py")
        backbone = (facts.get("model") or {}).get("backbone")
    except (OtxgenError, AttributeError):
        backbone = None
    if isinstance(backbone, dict):
        return {**backbone, "type": backbone_type}
    return {"type": backbone_type}


def task_of(lines: Sequence[str], file: str) -> str | None:
    """The task of the model config the buffer is, as build's plan reads it (its ``_base_`` chain merged
    from disk); None for what is not one, or cannot be read now."""
    from otxgen.app.rewrite import _base_files, _merged
    from otxgen.facts.libraries import LIBRARY_TASKS
    from otxgen.validate.backbones import infer_library

    try:
        merged = _merged("\n".join(lines), file, _base_files())
    except (OtxgenError, RecursionError):
        return None
    model = merged.get("model")
    return LIBRARY_TASKS.get(infer_library(merged, model) or "") if isinstance(model, dict) else None


def _verdict(backbone_type: str, lines: Sequence[str], file: str) -> str:
    from otxgen.matrix.verified import deploys, verified

    task = task_of(lines, file)
    if task is None:
        return ""
    cell = verified(task).get(backbone_type)
    if cell is None:
        said = f"matrix ({task}): not measured"
    elif cell.passed:
        said = f"matrix ({task}, {cell.template}): passes {cell.furthest}"
    else:
        said = f"matrix ({task}, {cell.template}): {cell.label}: {cell.reason}"
    deployed = deploys(task).get(backbone_type)
    if deployed is not None and deployed.deploys:
        said += f"; deploys: {deployed.deploys}"
    return said


def _argument_card(backbone_type: str, name: str, prop: dict[str, Any]) -> str:
    parts = [f"**{name}** of {backbone_type}"]
    raw = [prop.get("type")] if "type" in prop else [p.get("type") for p in prop.get("anyOf", [])]
    kinds = [str(k) for k in raw if k]
    if kinds:
        parts.append("type: " + " | ".join(kinds))
    if "default" in prop:
        parts.append(f"default: `{prop['default']!r}`")
    values = prop.get("enum") or next((p["enum"] for p in prop.get("anyOf", []) if "enum" in p), None)
    if values:
        parts.append("values: " + ", ".join(f"`{v}`" for v in values))
    if prop.get("description"):
        parts.append(str(prop["description"]))
    return "\n\n".join(parts)


@dataclass(frozen=True)
class Completion:
    label: str
    detail: str
    kind: str  # "type", "argument", "value"


def completions(lines: Sequence[str], line: int, col: int) -> list[Completion]:
    """What may be typed at the cursor: a backbone type after ``type=``/``type:`` inside a backbone
    mapping, an argument of its type not yet set, or a value of an argument with a fixed set."""
    from otxgen.schema.store import StoreCatalog

    if not 0 <= line < len(lines):
        return []
    prefix = lines[line][:col]
    owner = backbone_type_at(lines, line, col)
    catalog = StoreCatalog()
    typed = _TYPE_VALUE.search(prefix)
    text = "\n".join(lines)
    offset = sum(len(number) + 1 for number in lines[:line]) + col
    if typed and (_backbone_opener(text, offset) is not None or _YAML_BACKBONE.search(text)):
        return _types(catalog, typed.group(1))
    if typed:
        return []
    resolved = _resolve(owner, catalog) if owner else None
    if resolved is None:
        return []
    properties = catalog.schema(resolved).get("properties", {})
    valued = _ARGUMENT_VALUE.search(prefix)
    if valued and valued.group(1) in properties:
        prop = properties[valued.group(1)]
        values: list[Any] = prop.get("enum") or next((p["enum"] for p in prop.get("anyOf", []) if "enum" in p), [])
        started = valued.group(2)
        return [
            Completion(str(v), f"{valued.group(1)} of {resolved}", "value")
            for v in values
            if str(v).startswith(started)
        ]
    named = _ARGUMENT_NAME.search(prefix)
    if named is None:
        return []
    present = _keys_set(lines, line, col)
    return [
        Completion(name, _argument_detail(prop), "argument")
        for name, prop in properties.items()
        if name.startswith(named.group(1)) and name not in present
    ]


def _keys_set(lines: Sequence[str], line: int, col: int) -> set[str]:
    """The argument names the backbone mapping around the cursor sets (its own keys, not its values')."""
    text = "\n".join(lines)
    opener = _backbone_opener(text, sum(len(number) + 1 for number in lines[:line]) + col)
    if opener is None:  # a YAML block: the keys indented under ``backbone:``
        block = _YAML_BACKBONE.search(text)
        return set(re.findall(r"^[ \t]+(\w+)[ \t]*:", block.group(2), re.MULTILINE)) if block else set()
    keys, depth = set(), 0
    for match in re.finditer(r"""[()\[\]{}]|'[^'\n]*'|"[^"\n]*"|\b(\w+)\s*(?==[^=]|:)""", text[opener:]):
        token = match.group(0)
        if token in "([{":
            depth += 1
        elif token in ")]}":
            depth -= 1
            if depth == 0:
                break
        elif depth == 1 and match.group(1):
            keys.add(match.group(1))
    return keys


def _types(catalog: Any, typed: str) -> list[Completion]:
    from otxgen.schema.store import load_index

    rows = load_index()["backbones"]
    wanted = typed.lower()
    found = [row for row in rows if wanted in row["type"].lower()]
    return [Completion(row["type"], f"{row['library']} backbone", "type") for row in found[:200]]


def _argument_detail(prop: dict[str, Any]) -> str:
    default = f" = {prop['default']!r}" if "default" in prop else ""
    kind = prop.get("type") or "/".join(str(p.get("type")) for p in prop.get("anyOf", []) if p.get("type"))
    return f"{kind}{default}"


def swap_edits(file: Path, backbone: str) -> list[tuple[Path, str | None, str]]:
    """``(path, before, after)`` of every file ``build --backbone BACKBONE --model FILE --no-smoke
    --diff`` would change, from the build's own plan; an ``OtxgenError`` says why it would refuse."""
    from otxgen.app.build import planned_writes
    from otxgen.options import BuildBackboneOptions

    options = BuildBackboneOptions(backbone, models=(file,), mode="diff", smoke=False)
    return [
        (w.path, w.before, w.after) for w in planned_writes(options, lambda _: None) if w.changed and w.kind != "schema"
    ]


def swap_choices(lines: Sequence[str], file: str, current: str | None) -> list[str]:
    """A few catalog types with published weights and a top-1 that pass every check of the matrix in
    the config's task, smallest first."""
    from otxgen.matrix.verified import verified
    from otxgen.schema.store import load_index

    task = task_of(lines, file)
    if task is None:
        return []
    passing = {name for name, cell in verified(task).items() if cell.passed}
    sized = [
        (min(a["params"] for a in published), row["type"])
        for row in load_index()["backbones"]
        if row["type"] in passing and row["type"] != current and not row["required_args"]
        for published in [[a for a in row["archs"] if a.get("weights") and a.get("top1") and a.get("params")]]
        if published
    ]
    return [name for _, name in sorted(sized)[:SWAP_CHOICES]]


# --- the server -----------------------------------------------------------------------------------


def make_server() -> LanguageServer:
    try:
        from lsprotocol import types as lsp
        from pygls.lsp.server import LanguageServer
    except ImportError as error:
        raise MissingExtraError(f"otxgen lsp needs the [lsp] extra ({error.name} is missing)") from None
    from otxgen import __version__

    server = LanguageServer("otxgen", __version__, text_document_sync_kind=lsp.TextDocumentSyncKind.Incremental)
    latest: dict[str, int] = {}
    checking: set[str] = set()  # documents with a check running: it checks again when typed on meanwhile

    async def publish(uri: str) -> None:
        """Check the latest version off the event loop (a large buffer takes seconds: hover, completion
        and other documents are answered meanwhile), then publish it unless typed on meanwhile."""
        if uri in checking:
            return
        checking.add(uri)
        try:
            while uri in latest:  # a closed document gets nothing more (its close published an empty list)
                document = server.workspace.get_text_document(uri)
                version, source = document.version, document.source
                diagnostics = await asyncio.to_thread(_diagnostics, source, document.path, document.position_codec)
                if latest.get(uri) == version:  # not typed on meanwhile
                    server.text_document_publish_diagnostics(
                        lsp.PublishDiagnosticsParams(uri=uri, version=version, diagnostics=diagnostics)
                    )
                    return
        finally:
            checking.discard(uri)

    @server.feature(lsp.INITIALIZED)
    def initialized(params: lsp.InitializedParams) -> None:
        """What the first check needs, read now (the schema index, the modules): the editor is still starting."""
        from otxgen.app.validate import _base_files
        from otxgen.schema.store import load_index

        _base_files()
        load_index()
        findings_for("model = dict(backbone=dict(type='mmdet.ResNet', depth=18))\n", "warm.py")

    @server.feature(lsp.TEXT_DOCUMENT_DID_OPEN)
    async def did_open(params: lsp.DidOpenTextDocumentParams) -> None:
        latest[params.text_document.uri] = params.text_document.version
        await publish(params.text_document.uri)

    @server.feature(lsp.TEXT_DOCUMENT_DID_CHANGE)
    async def did_change(params: lsp.DidChangeTextDocumentParams) -> None:
        uri, version = params.text_document.uri, params.text_document.version
        latest[uri] = version
        await asyncio.sleep(DEBOUNCE_SECONDS)
        if latest.get(uri) == version:
            await publish(uri)

    @server.feature(lsp.TEXT_DOCUMENT_DID_SAVE)
    async def did_save(params: lsp.DidSaveTextDocumentParams) -> None:
        await publish(params.text_document.uri)

    @server.feature(lsp.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(params: lsp.DidCloseTextDocumentParams) -> None:
        latest.pop(params.text_document.uri, None)
        server.text_document_publish_diagnostics(
            lsp.PublishDiagnosticsParams(uri=params.text_document.uri, diagnostics=[])
        )

    def at(uri: str, position: lsp.Position) -> tuple[Any, list[str], int, int] | None:
        """The document, its lines, and the position in characters (the client counts UTF-16 units)."""
        try:
            document = server.workspace.get_text_document(uri)
            lines = _lines(document.source)
        except OSError:  # a document neither open nor on disk
            return None
        if not 0 <= position.line < len(lines) or position.character < 0:
            return None
        where = document.position_codec.position_from_client_units(lines, position)
        return document, lines, where.line, min(where.character, len(lines[where.line]))

    @server.feature(lsp.TEXT_DOCUMENT_HOVER)
    def hover(params: lsp.HoverParams) -> lsp.Hover | None:
        found = at(params.text_document.uri, params.position)
        text = hover_text(found[1], found[2], found[3], found[0].path) if found else None
        if text is None:
            return None
        return lsp.Hover(contents=lsp.MarkupContent(kind=lsp.MarkupKind.Markdown, value=text))

    @server.feature(lsp.TEXT_DOCUMENT_COMPLETION, lsp.CompletionOptions(trigger_characters=["'", '"', "=", ":"]))
    def complete(params: lsp.CompletionParams) -> lsp.CompletionList:
        found = at(params.text_document.uri, params.position)
        offered = completions(found[1], found[2], found[3]) if found else []
        kinds = {"type": lsp.CompletionItemKind.Class, "argument": lsp.CompletionItemKind.Property}
        items = [
            lsp.CompletionItem(c.label, kind=kinds.get(c.kind, lsp.CompletionItemKind.EnumMember), detail=c.detail)
            for c in offered
        ]
        return lsp.CompletionList(is_incomplete=False, items=items)

    @server.feature(
        lsp.TEXT_DOCUMENT_CODE_ACTION,
        lsp.CodeActionOptions(
            code_action_kinds=[lsp.CodeActionKind.QuickFix, lsp.CodeActionKind.RefactorRewrite], resolve_provider=True
        ),
    )
    async def code_actions(params: lsp.CodeActionParams) -> list[lsp.CodeAction]:
        uri = params.text_document.uri
        actions = []
        for diagnostic in params.context.diagnostics:
            data = diagnostic.data if isinstance(diagnostic.data, dict) else {}
            fix = data.get("replacement")
            if diagnostic.source == SOURCE and isinstance(fix, str) and fix:
                edit = lsp.WorkspaceEdit(changes={uri: [lsp.TextEdit(range=diagnostic.range, new_text=fix)]})
                title = f"Set {data.get('path') or 'it'} to {fix}"
                actions.append(
                    lsp.CodeAction(title, kind=lsp.CodeActionKind.QuickFix, diagnostics=[diagnostic], edit=edit)
                )
        found = at(uri, params.range.start)
        if found is not None and found[0].path.endswith(".py"):
            document, lines, line, column = found
            current = backbone_type_at(lines, line, column)
            # read off the event loop (a large buffer takes seconds); the edit is planned when one is chosen
            choices = await asyncio.to_thread(swap_choices, lines, document.path, current)
            for choice in choices:
                data = {"uri": uri, "backbone": choice}
                actions.append(
                    lsp.CodeAction(f"Swap backbone to {choice}", kind=lsp.CodeActionKind.RefactorRewrite, data=data)
                )
        return actions

    @server.feature(lsp.CODE_ACTION_RESOLVE)
    async def resolve(action: lsp.CodeAction) -> lsp.CodeAction:
        data = action.data if isinstance(action.data, dict) else {}
        if not isinstance(data.get("backbone"), str) or not isinstance(data.get("uri"), str):
            return action
        planned = await asyncio.to_thread(_planned_edit, server, data["uri"], data["backbone"])
        if isinstance(planned, str):
            server.window_show_message(lsp.ShowMessageParams(lsp.MessageType.Error, planned))
            return action
        action.edit = planned
        return action

    @server.command(SWAP_COMMAND)
    async def swap(uri: str = "", backbone: str = "") -> Any:  # pygls reads these annotations: module-level only
        if not (isinstance(uri, str) and isinstance(backbone, str) and uri and backbone):
            server.window_show_message(
                lsp.ShowMessageParams(lsp.MessageType.Error, f"otxgen: {SWAP_COMMAND} takes a document URI and a type")
            )
            return None
        edit = await asyncio.to_thread(_planned_edit, server, uri, backbone)
        if isinstance(edit, str):
            server.window_show_message(lsp.ShowMessageParams(lsp.MessageType.Error, edit))
            return None
        await server.workspace_apply_edit_async(
            lsp.ApplyWorkspaceEditParams(edit=edit, label=f"Swap backbone to {backbone}")
        )
        return edit

    return server


def _diagnostics(source: str, file: str, codec: Any) -> list[lsp.Diagnostic]:
    lines = _lines(source)
    try:
        return [_diagnostic(finding, lines, file, codec) for finding in findings_for(source, file)]
    except Exception as error:  # noqa: BLE001 - one bad buffer must never stop the server
        return [_crash_diagnostic(error)]
    finally:
        if len(source) > LARGE_BUFFER:
            _give_memory_back()


LARGE_BUFFER = 1 << 20  # characters: reading one takes hundreds of MiB, freed when the check ends


def _give_memory_back() -> None:
    """Return the memory a large buffer's check freed to the system: the C allocator keeps it otherwise,
    and an editor's server runs for days (a 3 MB buffer left it at 1 GB). Where there is no glibc,
    nothing is done."""
    import contextlib
    import ctypes
    import ctypes.util
    import gc

    gc.collect()
    with contextlib.suppress(OSError, AttributeError, TypeError):  # not glibc (macOS...), or no libc found
        ctypes.CDLL(ctypes.util.find_library("c")).malloc_trim(0)


def _planned_edit(server: Any, uri: str, backbone: str) -> lsp.WorkspaceEdit | str:
    """The edit of ``build --backbone BACKBONE --model FILE --diff``, or why there is none."""
    from otxgen.fsio import read_text

    try:
        document = server.workspace.get_text_document(uri)
        if read_text(Path(document.path)) != document.source:  # as build reads it: line endings kept
            return "otxgen: save the file first: the swap reads it and its bases from disk"
        return _workspace_edit(swap_edits(Path(document.path), backbone), document)
    except OtxgenError as error:
        return f"otxgen: {error}"
    except OSError as error:
        return f"otxgen: {uri}: {error.strerror or error}"


def _lines(source: str) -> list[str]:
    """A document's lines as LSP counts them (LF, CRLF or CR ends a line; not U+2028 or a form feed)."""
    return re.split(r"\r\n|\r|\n", source)


def _workspace_edit(edits: Sequence[tuple[Path, str | None, str]], document: Any) -> lsp.WorkspaceEdit:
    """Each file's new text over its whole old text; the open document's under its own URI (a link's)."""
    from lsprotocol import types as lsp

    changes: dict[str, list[lsp.TextEdit]] = {}
    mine = Path(document.path).resolve()
    for path, before, after in edits:
        lines = _lines(before or "")
        whole = lsp.Range(lsp.Position(0, 0), lsp.Position(len(lines), 0))
        uri = document.uri if path.resolve() == mine else path.resolve().as_uri()
        changes[uri] = [lsp.TextEdit(range=whole, new_text=after)]
    return lsp.WorkspaceEdit(changes=changes)


_SEVERITY = {"error": 1, "warning": 2, "note": 3}


def _diagnostic(finding: Finding, lines: Sequence[str], file: str, codec: Any) -> lsp.Diagnostic:
    """A finding as LSP says it: its range in the client's units; a base's finding at the ``_base_``
    entry that brings it in, pointing into the base (and without a quick fix: its value is not here)."""
    from lsprotocol import types as lsp

    here = not finding.where.file or Path(finding.where.file).resolve() == Path(file).resolve()
    related = None
    message = f"{finding.path}: {finding.message}" if finding.path else finding.message
    if here:
        place = extent(lines, max(finding.where.line - 1, 0), max(finding.where.col - 1, 0))
    else:
        place = base_entry(lines, finding.where.file)
        target = Path(finding.where.file).resolve().as_uri()
        spot = lsp.Position(max(finding.where.line - 1, 0), max(finding.where.col - 1, 0))
        related = [lsp.DiagnosticRelatedInformation(lsp.Location(target, lsp.Range(spot, spot)), message)]
        message = f"in {Path(finding.where.file).name}: {message}"
    data = {"path": finding.path, "replacement": finding.replacement} if finding.replacement and here else None
    start = codec.position_to_client_units(lines, lsp.Position(place.line, place.start))
    end = codec.position_to_client_units(lines, lsp.Position(place.end_line, place.end))
    return lsp.Diagnostic(
        range=lsp.Range(start, end),
        message=message,
        severity=lsp.DiagnosticSeverity(_SEVERITY.get(finding.severity, 1)),
        code=finding.code or None,
        source=SOURCE,
        related_information=related,
        data=data,
    )


def _crash_diagnostic(error: BaseException) -> lsp.Diagnostic:
    from lsprotocol import types as lsp

    message = f"otxgen could not check this file ({type(error).__name__}: {error}); please report it"
    return lsp.Diagnostic(
        lsp.Range(lsp.Position(0, 0), lsp.Position(0, 0)),
        message,
        severity=lsp.DiagnosticSeverity.Error,
        code="internal",
        source=SOURCE,
    )
