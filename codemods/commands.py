"""The codemods as ``python -m libcst.tool codemod`` commands (``-x codemods.commands.<Name>``).

Kept apart from the codemods themselves: ``libcst.codemod`` imports ``libcst.matchers`` (about 0.27 s),
which ``otxgen build`` never needs."""

from __future__ import annotations

import argparse

import libcst as cst
from libcst.codemod import CodemodCommand, CodemodContext

from codemods.custom_imports import add_custom_imports_in_module
from codemods.replace_backbone import parse_mapping, replace_backbone_in_module
from codemods.set_in_channels import parse_ints, set_in_channels_in_module


class ReplaceBackboneCommand(CodemodCommand):
    """``python -m libcst.tool codemod -x codemods.commands.ReplaceBackboneCommand --no-format
    --backbone "dict(type='RegNet', arch='regnetx_3.2gf')" configs/``"""

    DESCRIPTION: str = "Replace model.backbone of mmengine configs (adds _delete_=True over a _base_)."

    def __init__(self, context: CodemodContext, backbone: dict[str, object], target: str | None = None) -> None:
        super().__init__(context)
        self.backbone, self.target = backbone, target

    @staticmethod
    def add_args(arg_parser: argparse.ArgumentParser) -> None:
        arg_parser.add_argument(
            "--backbone",
            type=parse_mapping,
            required=True,
            help="the new backbone as a Python dict literal or JSON object",
        )
        arg_parser.add_argument("--target", default=None, help="dotted path of the backbone, e.g. model.backbone")

    def transform_module_impl(self, tree: cst.Module) -> cst.Module:
        return replace_backbone_in_module(tree, self.backbone, target=self.target)


class SetInChannelsCommand(CodemodCommand):
    """``python -m libcst.tool codemod -x codemods.commands.SetInChannelsCommand --no-format
    --channels 96,192,432,1008 configs/``"""

    DESCRIPTION: str = "Set neck / decode_head / head in_channels of mmengine configs to the backbone's channels."

    def __init__(
        self, context: CodemodContext, channels: list[int], in_index: list[int] | None = None, target: str | None = None
    ) -> None:
        super().__init__(context)
        self.channels, self.in_index, self.target = channels, in_index, target

    @staticmethod
    def add_args(arg_parser: argparse.ArgumentParser) -> None:
        arg_parser.add_argument("--channels", type=parse_ints, required=True, help="e.g. 64,128,256,512")
        arg_parser.add_argument(
            "--in-index",
            dest="in_index",
            type=parse_ints,
            default=None,
            help="levels the decode head reads, e.g. 0,1,2,3",
        )
        arg_parser.add_argument("--target", default=None, help="dotted path of the backbone, e.g. model.backbone")

    def transform_module_impl(self, tree: cst.Module) -> cst.Module:
        return set_in_channels_in_module(tree, self.channels, in_index=self.in_index, target=self.target)


class AddCustomImportsCommand(CodemodCommand):
    """``python -m libcst.tool codemod -x codemods.commands.AddCustomImportsCommand --no-format
    --module otxgen.libraries.torchvision configs/``"""

    DESCRIPTION: str = "Add modules to custom_imports of mmengine configs."

    def __init__(self, context: CodemodContext, module: list[str]) -> None:
        super().__init__(context)
        self.modules = module

    @staticmethod
    def add_args(arg_parser: argparse.ArgumentParser) -> None:
        arg_parser.add_argument("--module", action="append", required=True, help="module to import (repeatable)")

    def transform_module_impl(self, tree: cst.Module) -> cst.Module:
        return add_custom_imports_in_module(tree, self.modules)
