"""Positions from Python's syntax tree (``otxgen.config.positions``) equal libcst's own, node for node,
on the configs the libraries ship and on every fixture; and reading asks libcst almost never."""

from __future__ import annotations

import ast
from importlib.util import find_spec
from pathlib import Path

import libcst as cst
import pytest
from libcst.metadata import MetadataWrapper, PositionProvider

from otxgen.config.positions import Positions

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = [
    path
    for library in ("mmdet", "mmseg", "mmpretrain")
    for location in (find_spec(library).submodule_search_locations or [])  # type: ignore[union-attr]
    for path in sorted((Path(location) / ".mim" / "configs").rglob("*.py"))
]
CONFIGS = SHIPPED[::12] + sorted((ROOT / "fixtures").rglob("*.py"))


class _Nodes(cst.CSTVisitor):
    def __init__(self) -> None:
        self.nodes: list[cst.CSTNode] = []

    def on_visit(self, node: cst.CSTNode) -> bool:
        self.nodes.append(node)
        return True


def test_every_position_read_from_pythons_tree_is_libcsts() -> None:
    assert len(SHIPPED) > 2000, "the libraries' configs are there"
    paired = 0
    for path in CONFIGS:
        text = path.read_text(encoding="utf-8", errors="replace")
        try:
            tree, module = ast.parse(text), cst.parse_module(text)
        except (SyntaxError, cst.ParserSyntaxError):
            continue  # fixtures of bad input
        positions = Positions(module, tree, text)
        expected = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
        found = _Nodes()
        module.visit(found)
        for node in found.nodes:
            if id(node) in positions.known:
                paired += 1
                start = expected[node].start
                assert positions.known[id(node)] == (start.line, start.column), (path, type(node).__name__)
    assert paired > 20000


@pytest.mark.parametrize(
    "text",
    [
        "x = (1, 2)\ny = ( 3, 4)\nz = ((5, 6), 7)\n",
        "a = dict(b=[1, -2, {'c': (3,)}], *args, **kw)\n",
        "é = 'ü'; f = dict(g=é)  # ünïcode before\n",
        "if x:\n    y = 1\nz = [i for i in range(3)]\n",
    ],
)
def test_each_node_starts_where_libcst_says(text: str) -> None:
    tree, module = ast.parse(text), cst.parse_module(text)
    positions = Positions(module, tree, text)
    expected = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    found = _Nodes()
    module.visit(found)
    for node in found.nodes:
        if isinstance(node, (cst.BaseExpression, cst.BaseSmallStatement)):
            start = expected[node].start
            assert positions.start(node) == (start.line, start.column), type(node).__name__
