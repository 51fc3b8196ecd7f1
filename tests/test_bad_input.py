"""Bad input through the CLI: each case exits with its exact code, says what is wrong in one line (with
``file:line:col`` where there is a position), and leaves every file exactly as it was (bytes and mtimes).
For ``validate`` the one line is its one finding, on stdout (findings are its results); for every other
command it is the one ``otxgen: error:`` (or click's ``Error:``) line on stderr, and stdout is empty.

Symlinks are followed (``otxgen.fsio``): a linked model config is rewritten in its target, the link
stays; a dangling link is a missing file.
"""

from __future__ import annotations

import os
import re
import shutil
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from otxgen import fsio
from otxgen.cli import main
from otxgen.errors import InputError

ROOT = Path(__file__).resolve().parent.parent
BAD = ROOT / "fixtures" / "bad"
Snapshot = dict[str, tuple[bytes, int, int]]


def snapshot(root: Path) -> Snapshot:
    """Every file and folder under ``root``: bytes, mtime and permission bits."""
    state: Snapshot = {}
    for path in sorted(root.rglob("*")):
        stat = path.lstat()
        data = path.read_bytes() if path.is_file() and not path.is_symlink() else b""
        state[str(path.relative_to(root))] = (data, stat.st_mtime_ns, stat.st_mode)
    return state


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh detection workspace, made the current folder, with the bad inputs copied beside it."""
    result = invoke("build", "--task", "detection", "--workspace", str(tmp_path / "ws"))
    assert result.exit_code == 0, result.output
    shutil.copytree(BAD, tmp_path / "bad")
    monkeypatch.chdir(tmp_path / "ws")
    return tmp_path / "ws"


@dataclass(frozen=True)
class Case:
    """``setup`` prepares files under ``tmp_path`` and returns the command line; ``message`` is a regex
    for the one error line, ``{tmp}`` standing for ``tmp_path``."""

    id: str
    setup: Callable[[Path], list[str]]
    message: str
    exit_code: int = 2


def bad(name: str, *extra: str) -> Callable[[Path], list[str]]:
    """``build --backbone`` with the backbone.yaml ``fixtures/bad/<name>``."""
    return lambda tmp: ["build", "--backbone", str(tmp / "bad" / name), "--no-smoke", *extra]


def model(name: str, *extra: str) -> Callable[[Path], list[str]]:
    """``build --backbone mmdet.RegNet --model fixtures/bad/<name>``."""
    return lambda tmp: ["build", "--backbone", "mmdet.RegNet", "--model", str(tmp / "bad" / name), "--no-smoke", *extra]


def checked(name: str) -> Callable[[Path], list[str]]:
    """``validate fixtures/bad/<name>``."""
    return lambda tmp: ["validate", str(tmp / "bad" / name)]


def typed(*extra: str) -> Callable[[Path], list[str]]:
    """``build --backbone mmdet.RegNet`` inside the workspace, with ``extra`` arguments."""
    return lambda tmp: ["build", "--backbone", "mmdet.RegNet", "--no-smoke", *extra]


def write(name: str, data: bytes, args: Callable[[Path], list[str]]) -> Callable[[Path], list[str]]:
    """Write ``tmp_path/bad/<name>`` (inputs too big or too odd to commit), then ``args``."""

    def setup(tmp: Path) -> list[str]:
        (tmp / "bad" / name).write_bytes(data)
        return args(tmp)

    return setup


def fifo(name: str, args: Callable[[Path], list[str]]) -> Callable[[Path], list[str]]:
    """Make ``tmp_path/<name>`` a FIFO (reading one blocks until a writer comes: never), then ``args``."""

    def setup(tmp: Path) -> list[str]:
        (tmp / name).parent.mkdir(exist_ok=True)
        (tmp / name).unlink(missing_ok=True)
        os.mkfifo(tmp / name)
        return args(tmp)

    return setup


def with_base(base: str, args: Callable[[Path], list[str]]) -> Callable[[Path], list[str]]:
    """Write ``bad/child.py`` inheriting ``bad/<base>`` (and a backbone), then ``args``."""
    child = f"_base_ = ['{base}']\nmodel = dict(backbone=dict(type='mmdet.ResNet', depth=50))\n"
    return write("child.py", child.encode(), args)


def symlink_loop(name: str, args: Callable[[Path], list[str]]) -> Callable[[Path], list[str]]:
    def setup(tmp: Path) -> list[str]:
        (tmp / name).unlink(missing_ok=True)
        (tmp / name).symlink_to(tmp / name)
        return args(tmp)

    return setup


def beside_a_users_backbone_yaml(tmp: Path) -> list[str]:
    """--backbone-yaml names someone's backbone.yaml (describing something else)."""
    (tmp / "mine").mkdir()
    shutil.copy(tmp / "ws" / "model.py", tmp / "mine" / "model.py")
    (tmp / "mine" / "backbone.yaml").write_text("backbone:\n  type: mmdet.ResNet\n  depth: 18\n")
    model = str(tmp / "mine" / "model.py")
    return [
        "build",
        "--backbone",
        "mmdet.RegNet",
        "--model",
        model,
        "--backbone-yaml",
        str(tmp / "mine" / "backbone.yaml"),
    ]


def read_only_model(tmp: Path) -> list[str]:
    (tmp / "ws" / "model.py").chmod(0o444)
    return typed()(tmp)


def dangling_link(tmp: Path) -> list[str]:
    (tmp / "bad" / "link.py").symlink_to(tmp / "bad" / "gone.py")
    return model("link.py")(tmp)


def no_template(tmp: Path) -> list[str]:
    (tmp / "ws" / "template.yaml").rename(tmp / "template.yaml.moved")
    return typed()(tmp)


def task_in(relative: str, *extra: str) -> Callable[[Path], list[str]]:
    """``build --task detection --workspace tmp_path/<relative>``."""
    return lambda tmp: ["build", "--task", "detection", "--workspace", str(tmp / relative), *extra]


def task_over_model(tmp: Path) -> list[str]:
    """A folder that holds the user's own model.py (not a workspace): ``build --task`` must not replace it."""
    (tmp / "mine").mkdir()
    (tmp / "mine" / "model.py").write_text("model = dict(type='Mine')\n")
    return task_in("mine")(tmp)


def nested(opener: str, closer: str, levels: int, leaf: str = "1") -> bytes:
    """A model config whose ``x`` nests ``levels`` deep (Python compiles up to 199 brackets)."""
    value = opener * levels + leaf + closer * levels
    return f"model = dict(backbone=dict(type='mmdet.ResNet', depth=50), x={value})\n".encode()


DEEP_YAML = b"backbone:\n  type: mmdet.RegNet\n  arch: regnetx_400mf\n  x: " + b"[" * 60 + b"]" * 60 + b"\n"
DEEP_BLOCK_YAML = (
    b"backbone:\n  type: mmdet.RegNet\n" + b"".join(b"  " * i + b"k:\n" for i in range(1, 61)) + b"  " * 61 + b"v: 1\n"
)
BOM_MODEL = b"\xef\xbb\xbfmodel = dict(backbone=dict(type='mmdet.ResNet', depth=50))\n"
BIG = b"backbone:\n  type: mmdet.RegNet\n  arch: regnetx_400mf\n" + b"# padding\n" * (1024 * 1024)
Y = r"{tmp}/bad/"
SPREAD = b"""fpn = dict(in_channels=[256, 512, 1024, 2048], out_channels=256, num_outs=5)
model = dict(type='RetinaNet', backbone=dict(type='ResNet', depth=50),
    neck=dict(**fpn, type='FPN'))
"""
RETRIEVER = b"""model = dict(
    type='ImageToImageRetriever',
    image_encoder=[dict(type='ResNet', depth=50), dict(type='GlobalAveragePooling')],
    head=dict(type='ArcFaceClsHead', num_classes=10, in_channels=2048),
    prototype=[])
"""
CASES = [
    # backbone.yaml that cannot be read as YAML
    Case("malformed-yaml", bad("malformed.yaml"), Y + r"malformed.yaml:4:1: invalid YAML: .*flow sequence"),
    Case("duplicate-key", bad("duplicate.yaml"), Y + r"duplicate.yaml:3:3: duplicate key 'type' \(first at line 2\)"),
    Case("sequence-root", bad("list-root.yaml"), Y + r"list-root.yaml:1:1: expected a mapping .* found a sequence"),
    Case("scalar-root", bad("scalar-root.yaml"), Y + r"scalar-root.yaml:1:1: expected a mapping .* found a scalar"),
    Case("alias-bomb", bad("bomb.yaml"), Y + r"bomb.yaml:\d+:\d+: document expands to more than 100000 nodes"),
    Case("empty-yaml", bad("empty.yaml"), Y + r"empty.yaml: empty file: expected a mapping"),
    Case("comments-only-yaml", bad("comments.yaml"), Y + r"comments.yaml: empty file: expected a mapping"),
    Case("latin1-yaml", bad("latin1.yaml"), Y + r"latin1.yaml:3:8: not UTF-8: byte 0xe9 cannot be decoded"),
    Case("binary-yaml", bad("binary.yaml"), Y + r"binary.yaml: binary file, expected text"),
    Case("10mb-yaml", write("big.yaml", BIG, bad("big.yaml")), Y + r"big.yaml: file is larger than 5 MiB"),
    Case("missing-yaml", bad("nonexistent.yaml"), Y + r"nonexistent.yaml: no such file"),
    Case("directory-yaml", bad("folder.yaml"), Y + r"folder.yaml: is a directory, expected a file"),
    # backbone.yaml that is YAML but not a valid backbone
    Case("no-backbone-key", bad("no-backbone.yaml"), Y + r"no-backbone.yaml:1:1: no 'backbone' key"),
    Case("backbone-not-mapping", bad("backbone-scalar.yaml"), Y + r"backbone-scalar.yaml:1:11: backbone: 3 is not"),
    Case(
        "unknown-type-yaml",
        bad("unknown-type.yaml"),
        Y + r"unknown-type.yaml:2:9: backbone.type: unknown backbone type 'mmdet.RegNett'.*did you mean 'mmdet.RegNet'",
    ),
    Case("unknown-scope-yaml", bad("unknown-scope.yaml"), Y + r"unknown-scope.yaml:2:9: backbone.type: scope 'foo'"),
    Case("unknown-arg-yaml", bad("unknown-arg.yaml"), Y + r"unknown-arg.yaml:4:3: backbone.archh: .*no argument"),
    Case("wrong-type-yaml", bad("wrong-type.yaml"), Y + r"wrong-type.yaml:4:18: backbone.frozen_stages: 'two' is not"),
    Case("enum-yaml", bad("enum.yaml"), Y + r"enum.yaml:3:9: backbone.arch: 'regnetx_1mf' is not one of \["),
    Case(
        "missing-required-yaml", bad("missing-required.yaml"), Y + r"missing-required.yaml:1:1: .*'arch' is a required"
    ),
    Case("set-with-yaml", bad("enum.yaml", "--set", "arch=regnetx_400mf"), r"--set applies to 'build --backbone TYPE'"),
    # build --backbone TYPE and --set
    Case(
        "unknown-type",
        lambda t: ["build", "--backbone", "mmdet.RegNett", "--no-smoke"],
        r"unknown backbone type 'mmdet.RegNett'; did you mean 'mmdet.RegNet'\?",
    ),
    Case("unknown-library", lambda t: ["build", "--backbone", "foo.Bar"], r"unknown library 'foo'; valid: mmdet"),
    Case("unscoped-type", lambda t: ["build", "--backbone", "RegNet"], r"'RegNet' must look like LIB.Name"),
    Case("unknown-arg-set", typed("--set", "archh=1"), r"backbone.archh: mmdet.RegNet has no argument 'archh'"),
    Case("wrong-type-set", typed("--set", "frozen_stages=abc"), r"backbone.frozen_stages: 'abc' is not of type"),
    Case("enum-set", typed("--set", "arch=nope"), r"backbone.arch: 'nope' is not one of \['regnetx_400mf', "),
    Case("set-without-equals", typed("--set", "arch"), r"Invalid value for --set: 'arch' is not KEY=VALUE"),
    Case("set-without-key", typed("--set", "=1"), r"Invalid value for --set: '=1' is not KEY=VALUE"),
    Case("set-bad-yaml-value", typed("--set", "arch=["), r"--set arch=\[: invalid YAML: "),
    Case("set-type", typed("--set", "type=mmdet.ResNet"), r"--set type=mmdet.ResNet: KEY must be an argument name"),
    Case("set-bad-key", typed("--set", "a-b=1"), r"--set a-b=1: KEY must be an argument name"),
    # model configs that cannot be rewritten
    Case("syntax-error", model("syntax.py"), Y + r"syntax.py:4:14: invalid Python: '\(' was never closed"),
    Case("no-model", model("no-model.py"), Y + r"no-model.py: no model.backbone in the config"),
    Case("no-backbone", model("no-backbone.py"), Y + r"no-backbone.py:1:9: no model.backbone in the config"),
    Case("empty-model", model("empty.py"), Y + r"empty.py: no model.backbone in the config"),
    Case("backbone-variable", model("variable.py"), Y + r"variable.py:5:14: model.backbone is 'bb', not dict\(...\)"),
    Case("backbone-call", model("call.py"), Y + r"call.py:6:14: model.backbone is 'make_backbone\(50\)', not dict"),
    Case("two-backbone-keys", model("two-backbones.py"), Y + r"two-backbones.py:4:5: .*keyword argument repeated"),
    Case("two-models", model("two-models.py"), Y + r"two-models.py:7:\d+: the config holds more than one model"),
    Case(
        "alias-mutation",
        model("alias-mutation.py"),
        Y + r"alias-mutation.py:7:1: \"x\['backbone'\] = .* changes the model",
    ),
    Case(
        "comprehension-update",
        model("comprehension-update.py"),
        Y + r"comprehension-update.py:6:1: .* changes the model",
    ),
    Case("loop-alias", model("loop-alias.py"), Y + r"loop-alias.py:6:1: 'for held in \[model\]:' changes the model"),
    Case(
        "walrus-alias", model("walrus-alias.py"), Y + r"walrus-alias.py:6:1: 'if \(held := model\):' changes the model"
    ),
    Case("match-alias", model("match-alias.py"), Y + r"match-alias.py:6:1: 'match model:' changes the model"),
    Case("unpack-alias", model("unpack-alias.py"), Y + r"unpack-alias.py:6:1: .* changes the model"),
    Case("builtins-exec", model("builtins-exec.py"), Y + r"builtins-exec.py:6:1: 'import builtins' uses builtins"),
    Case("exec", model("exec.py"), Y + r"exec.py:6:1: .* uses exec\(\), after which no name is what the file says"),
    Case("globals", model("globals.py"), Y + r"globals.py:6:1: .* uses globals\(\)"),
    Case(
        "global-in-function",
        model("global-in-function.py"),
        Y + r"global-in-function.py:8:1: 'def shrink\(\):' changes the model",
    ),
    # forms the static reading does not follow, each refused at its statement (a hostile pass's classes)
    Case("shadowed-dict", model("shadowed-dict.py"), Y + r"shadowed-dict.py:1:1: 'def dict\(\*\*kw\):' binds dict"),
    Case("chained-model", model("chained-model.py"), Y + r"chained-model.py:1:1: .* binds model together with"),
    Case("method-on-call", model("method-on-call.py"), Y + r"method-on-call.py:6:1: .* changes the model"),
    Case("display-index", model("display-index.py"), Y + r"display-index.py:6:1: .* changes the model"),
    Case("default-alias", model("default-alias.py"), Y + r"default-alias.py:6:1: 'def shrink\(held=model\):' changes"),
    Case("frame-globals", model("frame-globals.py"), Y + r"frame-globals.py:8:1: .* uses f_globals"),
    Case("builtins-as", model("builtins-as.py"), Y + r"builtins-as.py:1:1: 'import builtins as b' uses builtins"),
    Case("exec-alias", model("exec-alias.py"), Y + r"exec-alias.py:1:1: 'run = exec' uses exec\(\)"),
    Case("not-read-base", model("not-read-base.py"), Y + r"not-read-base.py:8:1: .* changes the model"),
    Case("held-list", model("held-list.py"), Y + r"held-list.py:7:1: 'indices.pop\(0\)' changes the model"),
    # a part of the model held by another object, then changed through it (a hostile pass's classes)
    Case("defaults-attribute", model("defaults-attribute.py"), Y + r"defaults-attribute.py:10:1: .* changes the model"),
    Case("saved-method", model("saved-method.py"), Y + r"saved-method.py:7:1: '_u\(depth=18\)' changes the model"),
    Case("function-attribute", model("function-attribute.py"), Y + r"function-attribute.py:10:1: .* changes the model"),
    Case("stored-part", model("stored-part.py"), Y + r"stored-part.py:7:1: .* changes the model"),
    Case(
        "class-attribute", model("class-attribute.py"), Y + r"class-attribute.py:6:1: 'class Holder:' changes the model"
    ),
    Case("lambda-default", model("lambda-default.py"), Y + r"lambda-default.py:7:1: .* changes the model"),
    Case("sorted-part", model("sorted-part.py"), Y + r"sorted-part.py:7:1: \"b\['depth'\] = 101\" changes the model"),
    Case("annotated-model", model("annotated-model.py"), Y + r"annotated-model.py:1:1: .* binds model in a form"),
    Case(
        "read-before-defined",
        checked("read-before-defined.py"),
        Y + r"read-before-defined.py:3:60: model.backbone.norm_eval: name 'FROZEN_NORMS' is not defined",
        1,
    ),
    Case(
        "keyword-twice", model("keyword-twice.py"), Y + r"keyword-twice.py:6:5: dict\(...\) is given 'backbone' twice"
    ),
    Case("called-list", model("called-list.py"), Y + r"called-list.py:4:39: 'list' object is not callable"),
    Case(
        "unknown-target",
        model("two-models.py", "--target", "model.nope"),
        r"two-models.py:1:9: no model.nope in the config",
    ),
    Case(
        "target-not-a-backbone",
        model("two-models.py", "--target", "model.neck"),
        r"two-models.py:\d+:\d+: model.neck is a FPN, not a backbone",
    ),
    Case("latin1-model", model("latin1.py"), Y + r"latin1.py:2:9: not UTF-8: byte 0xe9"),
    Case("binary-model", write("binary.py", b"model = dict()\n\x00\x01", model("binary.py")), r"binary file"),
    Case("10mb-model", write("big.py", b"x = 1\n" * (2 * 1024 * 1024), model("big.py")), r"larger than 5 MiB"),
    Case("missing-model", model("nonexistent.py"), Y + r"nonexistent.py: no such file"),
    Case(
        "directory-model",
        lambda t: ["build", "--backbone", "mmdet.RegNet", "--model", str(t / "bad")],
        r"bad: is a directory, expected a file",
    ),
    Case("dangling-symlink", dangling_link, Y + r"link.py: no such file"),
    Case("read-only-model", read_only_model, r"{tmp}/ws/model.py: file is read-only"),
    # workspaces and options
    Case("no-template-yaml", no_template, r"{tmp}/ws: not a workspace \(no template.yaml\)"),
    Case("missing-workspace", typed("--workspace", "../nowhere"), r"\.\./nowhere: no such workspace folder"),
    Case("workspace-and-model", model("syntax.py", "--workspace", "."), r"--workspace and --model exclude each other"),
    Case("unknown-option", typed("--bogus"), r"No such option: --bogus|No such option '--bogus'"),
    Case("task-and-backbone", lambda t: ["build", "--task", "detection", "--backbone", "mmdet.RegNet"], r"exactly one"),
    Case("neither-task-nor-backbone", lambda t: ["build"], r"give exactly one of --task or --backbone"),
    Case("unknown-task", lambda t: ["build", "--task", "pose"], r"Invalid value for '--task': 'pose' is not one of"),
    Case("workspace-exists", lambda t: ["build", "--task", "detection", "--workspace", "."], r"already there"),
    Case("task-over-a-file", task_in("bad/empty.py"), r"{tmp}/bad/empty.py: exists and is not a folder"),
    Case("task-under-a-file", task_in("bad/empty.py/ws"), r"{tmp}/bad/empty.py/ws: cannot create the folder: "),
    Case("task-over-a-model", task_over_model, r"{tmp}/mine: would overwrite model.py; choose a new or empty"),
    Case(
        "unknown-template", lambda t: ["build", "--task", "detection", "--template", "x"], r"no template 'x' for task"
    ),
    # nesting that would exhaust the recursion of libcst (RecursionError) or its native parser (SIGSEGV)
    Case(
        "deep-brackets", write("deep.py", nested("[", "]", 150), checked("deep.py")), Y + r"deep.py:1:\d+: nested too"
    ),
    Case(
        "deep-dict-calls", write("deep.py", nested("dict(a=", ")", 150), model("deep.py")), r"deep.py:1:\d+: nested too"
    ),
    Case(
        "deep-3000-validate", write("deep.py", nested("[", "]", 3000), checked("deep.py")), r"deep.py:1:\d+: nested too"
    ),
    Case("deep-3000-build", write("deep.py", nested("dict(a=", ")", 3000), model("deep.py")), r"deep.py:1:\d+: nested"),
    Case("deep-operators", write("deep.py", nested("-", "", 3000), checked("deep.py")), r"deep.py: nested too deeply"),
    Case(
        "deep-strings", write("deep.py", nested("'a' ", "", 500, "'b'"), model("deep.py")), r"deep.py:1:\d+: nested too"
    ),
    Case("deep-yaml", write("deep.yaml", DEEP_YAML, bad("deep.yaml")), Y + r"deep.yaml:4:\d+: nested too deeply"),
    Case(
        "deep-block-yaml", write("deep.yaml", DEEP_BLOCK_YAML, checked("deep.yaml")), r"deep.yaml:\d+:\d+: nested too"
    ),
    # --weights: a checkpoint file, or an address mmengine's reader fetches
    Case("weights-folder", typed("--weights", "."), r"--weights \.: is a folder; give a checkpoint file in it"),
    Case("weights-no-address", typed("--weights", "://"), r"--weights ://: not an address \(give scheme://"),
    Case("weights-no-host", typed("--weights", "http://"), r"--weights http://: not an address"),
    Case("weights-unclosed-ipv6", typed("--weights", "http://[::1"), r"--weights http://\[::1: not an address"),
    Case("gn-without-num-groups", typed("--set", "norm_cfg.type=GN"), r"backbone.norm_cfg: GN needs num_groups"),
    Case(
        "weights-host-only", typed("--weights", "https://host/"), r"https://host/: an http address needs a host and a"
    ),
    Case("weights-npz", typed("--weights", "https://host/vit.npz"), r"vit.npz: not a format mmengine's checkpoint"),
    Case("weights-ftp", typed("--weights", "ftp://host/w.pth"), r"does not fetch ftp:// addresses \(http://, https://"),
    Case("weights-file-uri", typed("--weights", "file:///w.pth"), r"does not fetch file:// addresses"),
    Case("weights-empty", typed("--weights", ""), r"--weights is empty: give a URL, a checkpoint file, auto or none"),
    Case(
        "weights-text-file",
        write("notes.pth", b"my notes\n", lambda tmp: typed("--weights", str(tmp / "bad" / "notes.pth"))(tmp)),
        r"notes.pth: not a PyTorch checkpoint \(neither the zip archive nor the pickle torch.save writes\)",
    ),
    # a backbone inside a list (mmpretrain's ImageToImageRetriever: image_encoder=[backbone, neck])
    Case(
        "target-in-a-list",
        write("retriever.py", RETRIEVER, model("retriever.py", "--target", "model.image_encoder.0")),
        Y + r"retriever.py:3:19: model.image_encoder is a list, and otxgen swaps a backbone held under a key of a dict",
    ),
    Case(
        "no-backbone-names-the-parts",
        write("retriever.py", RETRIEVER, model("retriever.py")),
        Y + r"retriever.py:1:9: no model.backbone in the config \(it has image_encoder \(a list, which otxgen does "
        r"not swap into\), head; --target names the backbone\)",
    ),
    Case(
        "spread-into-a-consumer",
        write("spread.py", SPREAD, model("spread.py")),
        Y + r"spread.py:3:15: model.neck spreads \*\*fpn into its dict\(...\), so otxgen cannot see every key it sets: "
        r"write the keys of fpn inline so that otxgen can update them",
    ),
    # arguments the library refuses only when it builds the backbone: at the line that gives them
    Case(
        "dilations-per-stage",
        write("dil.yaml", b"backbone:\n  type: mmdet.ResNet\n  depth: 50\n  dilations: [1, 1, 2]\n", bad("dil.yaml")),
        Y + r"dil.yaml:4:14: backbone.dilations: dilations has 3 values, one a stage, and num_stages is 4$",
    ),
    Case(
        "vit-out-indices-by-block",
        write(
            "vit.yaml",
            b"backbone:\n  type: timm.vit_small_patch16_224\n  out_indices: [0, 1, 11]\n",
            checked("vit.yaml"),
        ),
        Y + r"vit.yaml:3:23: backbone.out_indices\[2\]: out_indices 11 is out of range 0..2 \(timm.vit_small_patch16_"
        r"224 has 3 levels here: its blocks 9, 10, 11\); out_indices counts these levels, not timm's blocks",
        exit_code=1,
    ),
    Case(
        "dilations-per-stage-set",
        typed("--set", "dilations=[1, 1, 2]"),
        r"--set dilations=\[1, 1, 2\]: backbone.dilations: mmdet.RegNet does not build with dilations=\[1, 1, 2\]",
    ),
    Case(
        "dilations-beside-carried-arguments",
        write(
            "res.py",
            b"default_scope = 'mmdet'\nmodel = dict(type='RetinaNet', backbone=dict(type='ResNet', depth=50, "
            b"num_stages=4, strides=(1, 2, 2, 2)),\n    neck=dict(type='FPN', in_channels=[256, 512, 1024, 2048], "
            b"out_channels=256, num_outs=5))\n",
            lambda tmp: [
                *("build", "--backbone", "mmdet.ResNet", "--model", str(tmp / "bad" / "res.py"), "--no-smoke"),
                *("--set", "depth=50", "--set", "dilations=[1, 1, 2]"),
            ],
        ),
        r"invalid backbone arguments \(check --set\): backbone.dilations: dilations has 3 values, one a stage",
    ),
    Case(
        "negative-channels",
        write("neg.yaml", b"backbone:\n  type: mmdet.ResNet\n  depth: 50\n  stem_channels: -5\n", bad("neg.yaml")),
        Y + r"neg.yaml:4:18: backbone.stem_channels: stem_channels -5 is not a channel count \(at least 1\)",
    ),
    # _base_ as mmengine takes it: a file name or a list of them
    Case(
        "base-tuple-validate",
        write("tuple-base.py", b"_base_ = ('empty.py', )\n", checked("tuple-base.py")),
        Y + r"tuple-base.py:1:10: _base_ is a tuple: mmengine takes a file name or a list of file names; write a list: "
        r"_base_ = \['empty.py'\]",
    ),
    Case(
        "base-tuple-build",
        write("tuple-base.py", b"_base_ = ('empty.py', )\n", model("tuple-base.py")),
        Y + r"tuple-base.py:1:10: _base_ is a tuple",
    ),
    # what Python compiles (and so mmengine reads), validate reads alike
    Case(
        "repeated-keyword-validate",
        checked("two-backbones.py"),
        Y + r"two-backbones.py:4:5: .*keyword argument repeated",
    ),
    Case(
        "bom-model-validate", write("bom.py", BOM_MODEL, checked("bom.py")), Y + r"bom.py:1:1: starts with a byte order"
    ),
    Case(
        "bom-model-build", write("bom.py", BOM_MODEL, model("bom.py")), Y + r"bom.py:1:1: starts with a byte order mark"
    ),
    # only regular files are read or written: a FIFO would block forever (in a write, holding the lock)
    Case("fifo-validate", fifo("bad/fifo.py", checked("fifo.py")), Y + r"fifo.py: is a FIFO \(named pipe\), not a"),
    Case(
        "fifo-yaml", fifo("bad/fifo.yaml", bad("fifo.yaml")), Y + r"fifo.yaml: is a FIFO \(named pipe\), not a regular"
    ),
    Case("fifo-model", fifo("ws/model.py", typed()), r"{tmp}/ws/model.py: is a FIFO \(named pipe\), not a regular"),
    Case("fifo-backbone-yaml", fifo("ws/backbone.yaml", typed()), r"ws/backbone.yaml: is a FIFO \(named pipe\)"),
    Case("fifo-in-a-walk", fifo("walk/fifo.py", lambda t: ["validate", str(t / "walk")]), r"fifo.py: is a FIFO"),
    Case(
        "fifo-base-validate",
        fifo("bad/fifo.py", with_base("fifo.py", checked("child.py"))),
        Y + r"child.py:1:11: _base_ file .*fifo.py cannot be read: is a FIFO \(named pipe\)",
    ),
    Case(
        "fifo-base-build",
        fifo("bad/fifo.py", with_base("fifo.py", model("child.py"))),
        Y + r"child.py:1:11: _base_ file .*fifo.py cannot be read: is a FIFO \(named pipe\)",
    ),
    Case(
        "missing-base-validate",
        with_base("nope.py", checked("child.py")),
        Y + r"child.py:1:11: _base_ file .*nope.py cannot be read: no such file",
    ),
    Case(
        "bom-json-base",
        write("base.json", b"\xef\xbb\xbf{}", with_base("base.json", checked("child.py"))),
        Y + r"child.py:1:11: _base_ file .*base.json:1:1: starts with a byte order mark",
    ),
    # what mmengine's registry or the backbone itself would refuse (scopes as tests/test_registry_scopes.py)
    Case(
        "scope-case", checked("scope-case.py"), Y + r"scope-case.py:2:51: model.backbone.type: scope 'MMDet' is not", 1
    ),
    Case("scope-alias", checked("scope-alias.py"), Y + r"scope-alias.py:2:57: .*scope 'mmcls' is not a registry", 1),
    Case(
        "scope-unimported",
        checked("scope-unimported.py"),
        Y + r"scope-unimported.py:2:57: .*'torchvision.resnet50' is registered by otxgen.libraries.torchvision, which",
        1,
    ),
    Case("delete-in-yaml", bad("delete.yaml"), Y + r"delete.yaml:4:3: backbone._delete_: _delete_ belongs in a model"),
    Case("delete-in-yaml-validate", checked("delete.yaml"), Y + r"delete.yaml:4:3: backbone._delete_: _delete_", 1),
    Case(
        "out-of-range-yaml",
        bad("out-of-range.yaml"),
        Y + r"out-of-range.yaml:4:26: backbone.out_indices\[3\]: out_indices 9 is out of range 0..3 \(mmdet.RegNet",
    ),
    Case(
        "out-of-range-validate", checked("out-of-range.yaml"), Y + r"out-of-range.yaml:4:26: .*out_indices 9 is out", 1
    ),
    Case("out-of-range-set", typed("--set", "out_indices=[0, 4]"), r"backbone.out_indices\[1\]: out_indices 4 is out"),
    # a note about a whole file (no key to point at) still names the file
    Case("note-names-its-file", checked("empty.py"), Y + r"empty.py:1:1: note: cannot check statically: no model", 0),
    # a backbone.yaml asked for never goes over someone's
    Case(
        "differing-backbone-yaml-beside-model",
        beside_a_users_backbone_yaml,
        r"{tmp}/mine/backbone.yaml: exists and differs from the one this build would write; build from it",
    ),
    Case(
        "no-backbone-yaml-with-a-file",
        bad("enum.yaml", "--no-backbone-yaml"),
        r"--backbone-yaml and --no-backbone-yaml go with --backbone TYPE",
    ),
    Case("symlink-loop-model", symlink_loop("ws/model.py", typed()), r"ws/model.py: symlink loop"),
    # values a Python config cannot hold as literals: refused where they are read, not crashed on later
    Case("set-yaml-set", typed("--set", "init_cfg=!!set {a, b}"), r"--set init_cfg=!!set \{a, b\}: a YAML !!set"),
    Case(
        "set-yaml-binary", typed("--set", "init_cfg=!!binary aGk="), r"--set init_cfg=!!binary aGk=: 'aGk=' is a YAML b"
    ),
    Case("set-nan", typed("--set", "drop_path_rate=.nan"), r"--set drop_path_rate=.nan: .nan is not a finite number"),
    Case("set-inf", typed("--set", "drop_path_rate=-.inf"), r"--set drop_path_rate=-.inf: -.inf is not a finite"),
    Case("date-yaml", bad("date.yaml"), Y + r"date.yaml:6:17: '2020-01-01' is a YAML timestamp, which a config cannot"),
    Case("date-yaml-validate", checked("date.yaml"), Y + r"date.yaml:6:17: '2020-01-01' is a YAML timestamp"),
    Case("inf-yaml-validate", checked("inf.yaml"), Y + r"inf.yaml:3:19: .inf is not a finite number"),
    Case(
        "float-index",
        bad("float-index.yaml"),
        Y + r"float-index.yaml:4:26: backbone.out_indices\[3\]: 3.0 is not of type",
    ),
    Case(
        "float-index-validate",
        checked("float-index.yaml"),
        Y + r"float-index.yaml:4:26: backbone.out_indices\[3\]: 3.0 is not of type 'integer'",
        exit_code=1,
    ),
    Case(
        "undefined-name-validate",
        checked("undefined-name.py"),
        Y
        + r"undefined-name.py:5:108: model.neck.init_cfg.gain: name 'nan' is not defined: mmengine executes the config",
        exit_code=1,
    ),
    Case(
        "undefined-name-check",
        model("undefined-name.py", "--check"),
        Y + r"undefined-name.py:5:108: otxgen would write what validate rejects \(model.neck.init_cfg.gain: name 'nan'",
    ),
    Case("diff-and-check", typed("--diff", "--check"), r"--diff and --check exclude each other"),
    Case(
        "task-and-diff",
        task_in("new", "--diff"),
        r"--diff/--check/--backbone-yaml/--no-backbone-yaml go with --backbone, not --task",
    ),
    Case("task-and-set", task_in("new", "--set", "depth=18"), r"--set go with --backbone, not --task"),
    Case("template-with-backbone", typed("--template", "x"), r"--template goes with --task"),
    Case("find-backbone-and-template", lambda t: ["find", "--backbone", "--template"], r"--template and --backbone"),
    Case("find-template-and-lib", lambda t: ["find", "--template", "mmdet"], r"--template and LIB \(mmdet\)"),
]


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith(("otxgen: error:", "Error:"))]


def message_lines(args: list[str], result: Result) -> list[str]:
    """The lines that say what is wrong: validate's findings (stdout), else the error lines (stderr)."""
    if args[0] == "validate":
        assert error_lines(result.stderr) == []
        return result.stdout.splitlines()
    assert result.stdout == ""
    return error_lines(result.stderr)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input_exits_with_one_message_and_writes_nothing(case: Case, workspace: Path) -> None:
    tmp = workspace.parent
    args = case.setup(tmp)
    before = snapshot(tmp)
    result = invoke(*args)
    assert result.exit_code == case.exit_code, result.output
    errors = message_lines(args, result)
    assert len(errors) == 1, result.output
    assert re.search(case.message.replace("{tmp}", re.escape(str(tmp))), errors[0]), errors[0]
    assert "Traceback" not in result.stderr
    assert snapshot(tmp) == before


@pytest.mark.parametrize(
    "taken",
    [
        "dict(zip(['x'], [model['backbone']]))['x']",
        "sorted(model.items())[0][1]",
        "min(model.values(), key=len)",
        "max([model['backbone']], key=len)",
        "list(reversed([model['backbone']]))[0]",
        "list(enumerate([model['backbone']]))[0][1]",
        "sum([[model['backbone']]], [])[0]",
    ],
)
def test_a_part_taken_through_a_builtin_that_passes_it_on_is_the_model(taken: str) -> None:
    """zip, sorted, min, max, reversed, enumerate and sum give back the objects they are given: a name
    bound to what they return and then changed changes the model (a hostile pass wrote such configs)."""
    from otxgen.config.model_config import read_config

    text = (ROOT / "fixtures" / "bad" / "alias-mutation.py").read_text().splitlines()[:5]
    facts = read_config("\n".join([*text, f"b = {taken}", "b['depth'] = 101", ""]), "model.py")
    assert [o.where.line for o in facts.opaque] == [7]
    untouched = read_config("\n".join([*text, f"n = len({taken})", ""]), "model.py")
    assert not untouched.opaque


def test_the_matrix_holds_at_least_thirty_cases() -> None:
    assert len(CASES) >= 30


def test_an_alias_bomb_is_refused_in_bounded_memory(workspace: Path) -> None:
    tracemalloc.start()
    try:
        result = invoke(*bad("bomb.yaml")(workspace.parent))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.exit_code == 2
    assert peak < 64 * 1024 * 1024  # the fully expanded document would hold 9**7 (4.8 million) nodes


def test_a_write_interrupted_before_the_rename_keeps_the_original(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = (workspace / "model.py").read_bytes()

    def fail(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device", dst)

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(InputError, match=r"model\.py: cannot write: No space left on device"):
        fsio.write_text_atomic(workspace / "model.py", "model = dict()\n")
    assert (workspace / "model.py").read_bytes() == original
    assert sorted(p.name for p in workspace.iterdir()) == ["data.yaml", "data_pipeline.py", "model.py", "template.yaml"]


def test_an_interrupted_build_exits_2_and_leaves_every_file_intact(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = snapshot(workspace)

    def fail(src: str, dst: str) -> None:
        raise OSError(5, "Input/output error", src, None, dst)

    monkeypatch.setattr(os, "replace", fail)
    result = invoke(*typed()(workspace.parent))
    assert result.exit_code == 2
    assert error_lines(result.stderr) == [
        f"otxgen: error: {workspace.resolve()}/backbone.yaml: cannot write: Input/output error"
    ]
    assert snapshot(workspace) == before  # no temp file left, nothing replaced


def test_a_symlinked_model_is_followed_and_the_link_kept(workspace: Path) -> None:
    real = workspace.parent / "shared" / "model.py"
    real.parent.mkdir()
    (workspace / "model.py").rename(real)
    (workspace / "model.py").symlink_to(real)
    result = invoke(*typed()(workspace.parent))
    assert result.exit_code == 0, result.output
    assert (workspace / "model.py").is_symlink()
    assert "type='RegNet'" in real.read_text()
    assert not [p for p in real.parent.iterdir() if p.name.endswith(fsio.TEMP_SUFFIX)]


def test_a_file_is_read_to_its_end_or_to_the_limit_whatever_its_size_says(tmp_path: Path) -> None:
    """``fsio.read_bytes`` asks for the size the file reports: a file that says 0 bytes (procfs) is
    still read to its end, and a larger one stops at the limit."""
    status = Path("/proc/self/status")
    if status.exists():  # Linux: a regular file whose size is 0
        assert status.stat().st_size == 0 and fsio.read_bytes(status).startswith(b"Name:")
    config = tmp_path / "model.py"
    config.write_bytes(b"x = 1\n" * 100)
    assert fsio.read_bytes(config) == config.read_bytes()
    assert fsio.read_bytes(config, limit=10) == b"x = 1\nx = "
