"""Read CST expressions as Python literals and render Python values back as config source.

Configs spell mappings as ``dict(k=v)``, which ``ast.literal_eval`` rejects; this module evaluates such
calls (and references to literal module-level names) with the literals ``ast.literal_eval`` takes.
"""

from __future__ import annotations

import ast
import copy
import keyword
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

import libcst as cst

from otxgen.facts.compute import PURE_BUILTINS, UNARY, binary, pure_call, subscript
from otxgen.facts.pysource import SourceError, check_syntax, child_nodes

_EMPTY_MODULE = cst.Module(body=[])
_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


class NotLiteralError(Exception):
    """The expression is not a literal (a call, an f-string, a reference to ``_base_``...)."""


_NUMBERS = (int, float, complex)
_NOT_COMPUTED = (TypeError, ValueError, ArithmeticError, LookupError)  # what ``otxgen.facts.compute`` raises


def _evaluated(node: ast.expr, names: Mapping[str, object]) -> object:
    """``ast.literal_eval``'s value of ``node``, reading ``dict(k=v)`` calls as mappings and ``names`` as
    their values, and what the config view computes on them (``otxgen.facts.compute``: ``sum([...])``,
    ``c * 2``, ``widths[-1]``); the tree is only read (it may be the one tree of the file the whole process
    shares). ``NotLiteralError`` for anything else, ``TypeError`` for an unhashable key."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.List):
        return [_evaluated(item, names) for item in node.elts]
    if isinstance(node, ast.Tuple):
        return tuple(_evaluated(item, names) for item in node.elts)
    if isinstance(node, ast.Set):
        return {_evaluated(item, names) for item in node.elts}
    if isinstance(node, ast.Dict) and None not in node.keys:
        return {_evaluated(k, names): _evaluated(v, names) for k, v in zip(node.keys, node.values, strict=True)}  # type: ignore[arg-type]
    if _is_dict_call(node):
        return {kw.arg: _evaluated(kw.value, names) for kw in node.keywords}  # type: ignore[attr-defined]
    if isinstance(node, ast.Name) and node.id in names:
        return copy.deepcopy(names[node.id])  # each use its own value, as the text it stands for would give
    if isinstance(node, ast.UnaryOp) and type(node.op) in UNARY:  # ``not 1``, ``~1``: not literals
        operand = _evaluated(node.operand, names)  # a number, or a name for one (``-shift``)
        if type(operand) in _NUMBERS:
            return UNARY[type(node.op)](operand)
    if isinstance(node, ast.BinOp):
        left, right = _evaluated(node.left, names), _evaluated(node.right, names)
        if type(left) in (int, float) and type(right) is complex and isinstance(node.op, (ast.Add, ast.Sub)):
            return left + right if isinstance(node.op, ast.Add) else left - right  # type: ignore[operator]  # 1+2j
        return _computed(binary, node.op, left, right)
    if isinstance(node, ast.Subscript) and not isinstance(node.slice, ast.Slice):
        return _computed(subscript, _evaluated(node.value, names), _evaluated(node.slice, names))
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and _pure(node.func.id, node, names):
        arguments = [_evaluated(argument, names) for argument in node.args]
        return _computed(pure_call, node.func.id, arguments)
    raise NotLiteralError


def _pure(called: str, call: ast.Call, names: Mapping[str, object]) -> bool:
    """A builtin the config view computes (not a name the file binds), on positional arguments only."""
    unpacked = any(isinstance(argument, ast.Starred) for argument in call.args)
    return called in PURE_BUILTINS and called not in names and not call.keywords and not unpacked


def _computed(function: Callable[..., Any], *arguments: Any) -> object:
    try:
        return function(*arguments)
    except _NOT_COMPUTED as error:
        raise NotLiteralError from error


def _is_dict_call(node: ast.expr) -> bool:
    """``dict(k=v, ...)``: keyword arguments only."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict"):
        return False
    return not node.args and all(kw.arg is not None for kw in node.keywords)


def code_of(node: cst.CSTNode) -> str:
    """The source text of one node (``made_text`` where ``expression`` made it)."""
    made = made_text(node)
    return made if made is not None else _EMPTY_MODULE.code_for_node(node)


def literal_value(node: cst.BaseExpression, names: Mapping[str, object] | None = None) -> object:
    """The Python value of a literal expression (``dict(...)`` calls allowed); raises ``NotLiteralError``."""
    try:
        return _evaluated(ast.parse(f"(\n{code_of(node)}\n)", mode="eval").body, names or {})
    except (NotLiteralError, TypeError, SyntaxError, RecursionError) as exc:
        raise NotLiteralError(code_of(node)) from exc


def maybe_literal(node: cst.BaseExpression | None, names: Mapping[str, object] | None = None) -> object:
    """Like ``literal_value`` but ``NotLiteralError`` (the class itself) for anything that is not a literal."""
    if node is None:
        return NotLiteralError
    try:
        return literal_value(node, names)
    except NotLiteralError:
        return NotLiteralError


def quote_and_names(source: str) -> tuple[str, dict[str, object], bool]:
    """The file's dominant quote character (``'`` on a tie; triple-quoted strings do not count), its
    top-level ``NAME = <literal>`` assignments of names bound once, for ``norm_cfg=norm_cfg``, and whether
    its multi-line calls and displays mostly end with a trailing comma (black's layout)."""
    try:
        tree = check_syntax(source)  # the file's one tree: only read here
    except SourceError:
        return "'", {}, False
    lines = source.splitlines()
    counts = {"'": 0, '"': 0}
    votes = {True: 0, False: 0}  # multi-line calls and displays with a comma after their last item, or not
    stack: list[ast.AST] = [tree]
    while stack:  # one walk for both, in no order: the file's style costs a swap a walk of its tree
        node = stack.pop()
        stack.extend(child_nodes(node))
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            line = lines[node.lineno - 1]  # ast's columns are UTF-8 byte offsets
            text = (
                line[node.col_offset :] if line.isascii() else line.encode()[node.col_offset :].decode(errors="replace")
            )
            text = text.lstrip("rRbBuU")
            if text[:1] in counts and text[:3] not in ("'''", '"""'):
                counts[text[0]] += 1
        elif isinstance(node, (ast.Call, ast.List, ast.Tuple, ast.Dict)):
            comma = _comma_after_last(node, lines)
            if comma is not None:
                votes[comma] += 1
    names: dict[str, object] = {}
    bound: Counter[str] = Counter()
    for statement in tree.body:
        bound.update(_bound_by(statement))
        target = statement.targets[0] if isinstance(statement, ast.Assign) and len(statement.targets) == 1 else None
        if isinstance(statement, ast.Assign) and isinstance(target, ast.Name):
            try:
                names[target.id] = _evaluated(statement.value, names)
            except (ValueError, TypeError, SyntaxError, NotLiteralError, RecursionError):
                continue
    # A name bound twice has another value before its second binding than after it, and a value that
    # reads it is not known without knowing where (``c = 128 ... in_channels=c * 4 ... c = 512``).
    once = {name: value for name, value in names.items() if bound[name] == 1}
    return ('"' if counts['"'] > counts["'"] else "'"), once, votes[True] > votes[False]


def _bound_by(statement: ast.stmt) -> set[str]:
    """The module-level names a top-level statement binds (kept wide: a comprehension's loop name too)."""
    if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {statement.name}
    if isinstance(statement, (ast.Import, ast.ImportFrom)):
        return {(alias.asname or alias.name).partition(".")[0] for alias in statement.names}
    found: set[str] = set()
    stack: list[ast.AST] = list(statement.targets) if isinstance(statement, ast.Assign) else [statement]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            found.add(node.id)
        stack.extend(child_nodes(node))
    return found


def _comma_after_last(node: ast.Call | ast.List | ast.Tuple | ast.Dict, lines: list[str]) -> bool | None:
    """Whether a multi-line call or display puts a comma after its last item (None: one line, or empty)."""
    items: list[ast.expr]
    if isinstance(node, ast.Call):
        items = [*node.args, *(kw.value for kw in node.keywords)]
    elif isinstance(node, ast.Dict):
        items = list(node.values)
    else:
        items = list(node.elts)
    if not items or node.end_lineno is None or node.end_lineno == node.lineno or node.end_col_offset is None:
        return None
    last = max(items, key=lambda item: (item.end_lineno or 0, item.end_col_offset or 0))
    if last.end_lineno is None or last.end_col_offset is None:
        return None
    between = _text_between(lines, (last.end_lineno, last.end_col_offset), (node.end_lineno, node.end_col_offset))
    return "," in between.split("#")[0]


def _text_between(lines: list[str], start: tuple[int, int], end: tuple[int, int]) -> str:
    """Source text between two (1-based line, byte column) positions."""
    if start[0] == end[0]:
        return lines[start[0] - 1].encode()[start[1] : end[1]].decode(errors="replace")
    head = lines[start[0] - 1].encode()[start[1] :].decode(errors="replace")
    return head + "\n" + "\n".join(lines[start[0] : end[0]])


def quote_string(text: str, quote: str) -> str:
    """A string literal for ``text`` delimited by ``quote``."""
    body = []
    for char in text:
        if char in _ESCAPES:
            body.append(_ESCAPES[char])
        elif char == quote:
            body.append("\\" + char)
        elif not char.isprintable():
            body.append(repr(char)[1:-1])
        else:
            body.append(char)
    return quote + "".join(body) + quote


def is_keyword_name(key: object) -> bool:
    """Whether ``key`` can be written as ``dict(key=...)``."""
    return isinstance(key, str) and key.isidentifier() and not keyword.iskeyword(key)


def render(value: object, quote: str, indent: str | None = None, *, trailing: bool = False) -> str:
    """Source for ``value``: mappings as ``dict(...)``, strings in ``quote``; ``indent`` breaks a dict's keys
    onto lines of their own (``dict(\\n<indent>k=v,\\n<indent>k2=v2)``), and a list of dicts into one dict a
    line, otherwise all on one line."""
    if isinstance(value, Mapping):
        return _render_mapping(value, quote, indent, trailing)
    if isinstance(value, tuple):
        items = [render(item, quote) for item in value]
        return f"({items[0]},)" if len(items) == 1 else "(" + ", ".join(items) + ")"
    if isinstance(value, list):
        items = [render(item, quote) for item in value]
        if indent is not None and len(items) > 1 and all(isinstance(item, Mapping) for item in value):
            return "[\n" + _lines(items, indent, trailing) + "]"  # a list of dicts, one a line
        return "[" + ", ".join(items) + "]"
    if isinstance(value, str):
        return quote_string(value, quote)
    if value is None or isinstance(value, (bool, int, float)):
        return repr(value)
    raise TypeError(f"cannot write a {type(value).__name__} into a config: {value!r}")


def _lines(items: list[str], indent: str, trailing: bool) -> str:
    """Items a line; with ``trailing``, each ends with a comma and the closer gets a line of its own."""
    if trailing:
        return "".join(f"{indent}{item},\n" for item in items) + indent[:-4]
    return ",\n".join(indent + item for item in items)


def _render_mapping(value: Mapping[object, object], quote: str, indent: str | None, trailing: bool = False) -> str:
    if not all(is_keyword_name(key) for key in value):
        return "{" + ", ".join(f"{render(k, quote)}: {render(v, quote)}" for k, v in value.items()) + "}"
    pairs = [f"{key}={render(item, quote)}" for key, item in value.items()]
    if indent is None or len(pairs) < 2:
        return "dict(" + ", ".join(pairs) + ")"
    return "dict(\n" + _lines(pairs, indent, trailing) + ")"


def render_like(
    value: object, old: cst.BaseExpression | None, quote: str, indent: str | None = None, *, trailing: bool = False
) -> str:
    """``render``, but a sequence keeps the bracket kind of the value it replaces (tuples stay tuples)."""
    if isinstance(value, (list, tuple)) and old is not None:
        if isinstance(old, cst.Tuple):
            value = tuple(value)
        elif isinstance(old, cst.List):
            value = list(value)
    return render(value, quote, indent, trailing=trailing)


def expression(code: str) -> cst.BaseExpression:
    """Rendered source parsed into a CST expression, which prints as ``code`` (``made_text``) where libcst
    prints it back so. One text is parsed (and printed) once while it is among the last ``MADE_KEPT``: a
    swap renders the same few values in every config it changes (the new backbone's), and nodes are
    immutable, so a tree may share them."""
    with _MADE_LOCK:
        node = _MADE.get(code)
        if node is not None:
            _MADE.move_to_end(code)
            return node
    node = cst.parse_expression(code)
    if _EMPTY_MODULE.code_for_node(node) != code:  # what libcst does not print back: space or a comment
        return node  # after it, line ends other than ``\n`` (each printed as the module's own)
    with _MADE_LOCK:
        _MADE[code] = node
        _TEXTS[id(node)] = (node, code)
        if len(_MADE) > MADE_KEPT:
            _, dropped = _MADE.popitem(last=False)
            del _TEXTS[id(dropped)]
    return node


def made_text(node: cst.CSTNode) -> str | None:
    """The text ``expression`` made ``node`` from, while it is one of the last ``MADE_KEPT`` it made: what
    printing the node gives (its line ends ``\\n``), without printing it. A swap prints the values it made
    (to check their width, to compare them, to write them), and printing is most of what libcst costs."""
    made = _TEXTS.get(id(node))
    return made[1] if made is not None and made[0] is node else None


MADE_KEPT = 512  # a swap makes a few dozen; each is held (so that its id names no other node meanwhile)
_MADE: OrderedDict[str, cst.BaseExpression] = OrderedDict()  # by text, the most recently used last
_TEXTS: dict[int, tuple[cst.CSTNode, str]] = {}  # the same, by node
_MADE_LOCK = threading.Lock()  # the language server swaps in threads
