#!/usr/bin/env bash
# The main job, as a user runs it, in a fresh temporary folder: create a detection workspace, swap its
# backbone for mmdet.RegNet (diff first), show a plain ViT's swap, try mmseg.HRNet (which needs user input), fill that input in,
# build again, and show that a second build changes nothing.
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
export PATH="$root/.venv/bin:$PATH"
demo_dir=$(mktemp -d)
cd "$demo_dir" || exit 2

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
expect() {  # expect CODE COMMAND...: run it, fail the demo if the exit code differs
    local want=$1; shift
    step "$*"
    "$@"
    local got=$?
    if [ "$got" != "$want" ]; then echo "demo: '$*' exited $got, expected $want" >&2; exit 1; fi
}

echo "demo folder: $demo_dir"
expect 0 otxgen find --backbone mmdet
expect 0 otxgen build --task detection
cd otx-workspace-DETECTION || exit 2
expect 0 otxgen build --backbone mmdet.RegNet --diff
expect 0 otxgen build --backbone mmdet.RegNet
step "a plain ViT gives every level at stride 16: the swap puts a pyramid neck in front of the FPN"
expect 0 otxgen build --backbone timm.vit_small_patch16_224 --diff
expect 1 otxgen build --backbone mmseg.HRNet
step "edit backbone.yaml: uncomment the schema's example for 'extra' (HRNet-W18)"
cat backbone.yaml
sed -i -e '/must be filled in/d' -e 's/^# \(  \)/\1/' backbone.yaml
cat backbone.yaml
expect 0 otxgen validate backbone.yaml
expect 0 otxgen build --backbone backbone.yaml
expect 0 otxgen build --backbone backbone.yaml --check
echo
echo "demo: done (workspace in $demo_dir/otx-workspace-DETECTION)"
