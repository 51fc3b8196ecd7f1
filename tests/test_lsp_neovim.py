"""A real editor: Neovim (Debian's 0.7, headless) starts ``otxgen lsp`` with its built-in client, opens a
config over one of mmdet's shipped bases, and shows the server's diagnostics; the test reads them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

NVIM = Path("/usr/bin/nvim")
SCRIPT = Path(__file__).resolve().parent.parent / "fixtures" / "editor" / "neovim-0.7.lua"
MMDET_CONFIGS = Path(str(resources.files("mmdet") / ".mim" / "configs"))
CONFIG = """_base_ = ['../_base_/models/retinanet_r50_fpn.py']
# the neck reads a ResNet-50: these are a ResNet-18's widths
model = dict(neck=dict(in_channels=[64, 128, 256, 512]))
"""


def test_neovim_shows_the_servers_diagnostics(tmp_path: Path) -> None:
    assert NVIM.is_file(), "tools/setup-env.sh installs neovim"
    shutil.copytree(MMDET_CONFIGS / "_base_", tmp_path / "_base_")
    (tmp_path / "mine").mkdir()
    config = tmp_path / "mine" / "model.py"
    config.write_text(CONFIG)
    out = tmp_path / "diagnostics.txt"
    environment = {
        **os.environ,
        "OTXGEN_NVIM_OUT": str(out),
        "OTXGEN_PYTHON": sys.executable,
        "OTXGEN_FILE": str(config),
    }
    done = subprocess.run(
        [str(NVIM), "--headless", "-u", "NONE", "-c", f"luafile {SCRIPT}"],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    (line,) = out.read_text().splitlines()
    where, source, code, message = line.split("\t")
    start = CONFIG.splitlines()[2].index("[64")
    assert where == f"2:{start}:2:{start + len('[64, 128, 256, 512]')}"
    assert (source, code) == ("otxgen", "channels")
    assert message == (
        "model.neck.in_channels: [64, 128, 256, 512] does not match the backbone's output channels "
        "[256, 512, 1024, 2048]"
    )
