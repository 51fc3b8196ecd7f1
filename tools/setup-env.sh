#!/usr/bin/env bash
# Set up .venv with the pinned OpenMMLab stack. Idempotent: a second run only checks a stamp.
#
# The slow part is mmcv 2.1.0: no prebuilt wheel exists for torch 2.14, so it is built from the
# sdist with ops (about 7 minutes on 2 cores). The wheel is cached outside the checkout, keyed by
# mmcv, torch and Python versions, so a fresh clone on the same machine reuses it.
set -euo pipefail

cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
VENV=.venv
TORCH_VERSION=2.14.1
TORCHVISION_VERSION=0.29.1
MMCV_VERSION=2.1.0
TIMM_VERSION=1.0.31
CACHE_ROOT=${OTXGEN_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/otxgen}

log() { printf '[setup] %s\n' "$*" >&2; }

stamp_key() {
    cat tools/setup-env.sh tools/requirements-mm.txt tools/requirements-dev.txt tools/requirements-export.txt \
        tools/requirements-cluster.txt tools/requirements-lsp.txt pyproject.toml \
        | sha256sum | cut -c1-16
}

if [ -f "$VENV/.otxgen-stamp" ] && [ "$(cat "$VENV/.otxgen-stamp")" = "$(stamp_key)" ]; then
    log "environment up to date ($VENV)"
    exit 0
fi

if [ ! -x "$VENV/bin/python" ]; then
    log "creating $VENV with $PYTHON"
    "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"
PIP=("$PY" -m pip install --disable-pip-version-check -q)

log "installing torch $TORCH_VERSION and torchvision $TORCHVISION_VERSION"
"${PIP[@]}" "torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION" wheel

PY_TAG=$("$PY" -c 'import sys; print(f"py{sys.version_info[0]}{sys.version_info[1]}")')
WHEEL_DIR="$CACHE_ROOT/wheels/mmcv-$MMCV_VERSION-torch$TORCH_VERSION-$PY_TAG"
if ! ls "$WHEEL_DIR"/mmcv-*.whl >/dev/null 2>&1; then
    log "building mmcv $MMCV_VERSION with ops into $WHEEL_DIR (about 7 minutes on 2 cores)"
    build_dir=$(mktemp -d)
    trap 'rm -rf "$build_dir"' EXIT
    # mmcv's setup.py imports pkg_resources, gone from setuptools 70; torch wants a newer one at
    # run time, so the old setuptools lives only for the duration of the build.
    "${PIP[@]}" "setuptools<70" 2>/dev/null
    "$PY" -m pip download -q --no-deps --no-binary :all: --no-build-isolation \
        "mmcv==$MMCV_VERSION" -d "$build_dir"
    tar -xzf "$build_dir"/mmcv-*.tar.gz -C "$build_dir"
    src=$(find "$build_dir" -maxdepth 1 -type d -name "mmcv-$MMCV_VERSION")
    # torch 2.14 headers need C++20; mmcv's setup.py hard-codes c++14/c++17.
    sed -i -e 's/-std=c++14/-std=c++20/g' -e 's/-std=c++17/-std=c++20/g' "$src/setup.py"
    mkdir -p "$WHEEL_DIR"
    (cd "$src" && MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-$(nproc)} FORCE_CUDA=0 \
        "$OLDPWD/$PY" -m pip wheel -q --no-build-isolation --no-deps . -w "$build_dir/out")
    mv "$build_dir"/out/mmcv-*.whl "$WHEEL_DIR/"
    "${PIP[@]}" "setuptools>=70"
else
    log "reusing cached mmcv wheel from $WHEEL_DIR"
fi
"${PIP[@]}" "$WHEEL_DIR"/mmcv-*.whl

log "installing the OpenMMLab stack, dev tools and otxgen (editable)"
"${PIP[@]}" -r tools/requirements-mm.txt -r tools/requirements-dev.txt -r tools/requirements-export.txt \
    -r tools/requirements-cluster.txt -r tools/requirements-lsp.txt
# The matrix's HTML page is checked in headless Chromium (tests/test_matrix.py): Debian's package.
if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null 2>&1; then
    log "installing chromium (headless browser for the matrix page's test)"
    SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null \
        || { $SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
fi
# otxgen lsp is checked in a real editor, Neovim headless (tests/test_lsp_neovim.py): Debian's package.
if [ ! -x /usr/bin/nvim ] && command -v apt-get >/dev/null 2>&1; then
    log "installing neovim (the editor the language server's test runs)"
    SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq neovim >/dev/null \
        || { $SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq neovim >/dev/null; }
fi
# timm's wheel alone: it imports fine next to this torch, and its hub dependencies are only needed to
# download weights, which otxgen never does.
"${PIP[@]}" --no-deps "timm==$TIMM_VERSION"
"${PIP[@]}" --no-deps -e .

stamp_key >"$VENV/.otxgen-stamp"
log "done"
