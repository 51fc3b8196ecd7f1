"""Adapter for the OpenMMLab libraries: mmdet, mmseg, mmpretrain (formerly mmcls)."""

from __future__ import annotations

import importlib
from functools import cache
from typing import Any

from otxgen.libraries.base import BackboneEntry, Configured, ModelReader, Published

_PACKAGE = {"mmdet": "mmdet", "mmseg": "mmseg", "mmpretrain": "mmpretrain"}


@cache
def _backbones_module(library: str) -> Any:
    """Import ``<lib>.models`` (registers everything) and return its ``backbones`` module."""
    importlib.import_module(f"{_PACKAGE[library]}.models")
    return importlib.import_module(f"{_PACKAGE[library]}.models.backbones")


def _registry(library: str) -> Any:
    return importlib.import_module(f"{_PACKAGE[library]}.registry").MODELS


def _is_abstract_base(name: str) -> bool:
    # mmpretrain exports BaseBackbone next to the real ones; it has no forward of its own.
    return name.startswith("Base")


def _missing_optional_package(cls: type) -> str | None:
    """The optional package a backbone needs and which is not installed: imported by its module as
    ``try: import x / except: x = None`` (mmseg ``TIMMBackbone``: timm), or declared with mmpretrain's
    ``@require('x')`` on ``__init__`` (mmpretrain ``TIMMBackbone``)."""
    import importlib.util
    import sys

    verify = getattr(vars(cls).get("__init__"), "_verify_require", None)
    if callable(verify):
        try:
            verify()
        except ImportError as error:  # the placeholder constructor: it names the package
            return str(error).split(" requires ", 1)[-1].split(",", 1)[0]
    module_globals = vars(sys.modules[cls.__module__])
    for name, value in module_globals.items():
        if value is None and not name.startswith("_") and importlib.util.find_spec(name) is None:
            return name
    return None


def _backbone_parent(cls: Any, backbones: tuple[type, ...]) -> str | None:
    """The name of the library's backbone that ``cls`` (registered elsewhere) subclasses, if any."""
    if not isinstance(cls, type):
        return None
    parent = next((b for b in backbones if b is not cls and issubclass(cls, b)), None)
    return parent.__name__ if parent is not None else None


def _wraps_a_module(cls: Any) -> bool:
    """Whether ``cls`` is a module built around another given as its ``module`` config (mmpretrain's
    ``LoRAModel`` adapts the backbone it is given), and not a whole model (a test-time-augmentation one)."""
    import inspect

    from mmengine.model import BaseModel, BaseTTAModel

    if not isinstance(cls, type) or issubclass(cls, (BaseModel, BaseTTAModel)):
        return False
    return "module" in inspect.signature(cls).parameters


class MMAdapter:
    """Backbones are the classes of ``<lib>.models.backbones`` that are public (``__all__``) and
    registered in the library's MODELS registry. Helper modules that live in the same package but
    are not exported (mmseg's ``DeconvModule``, ``InterpConv``) are excluded, and said so."""

    def __init__(self, library: str) -> None:
        self.library = library

    def version(self) -> str:
        return str(importlib.import_module(_PACKAGE[self.library]).__version__)

    def entries(self) -> list[BackboneEntry]:
        module = _backbones_module(self.library)
        registered = _registry(self.library).module_dict
        public = set(getattr(module, "__all__", ()))
        skip = self.excluded()
        names = sorted(n for n in public if n in registered and n not in skip)
        return [BackboneEntry(self.library, n, registered[n]) for n in names]

    def excluded(self) -> dict[str, str]:
        module = _backbones_module(self.library)
        public = set(getattr(module, "__all__", ()))
        prefix = module.__name__ + "."
        reasons = {}
        backbones = tuple(
            c for n, c in _registry(self.library).module_dict.items() if n in public and isinstance(c, type)
        )
        for name, cls in _registry(self.library).module_dict.items():
            if not getattr(cls, "__module__", "").startswith(prefix):
                parent = _backbone_parent(cls, backbones)
                if parent is not None:  # MAEViT, SimMIMSwinTransformer: pretraining variants of a backbone
                    reasons[name] = f"a variant of {parent} outside {module.__name__} (self-supervised pretraining)"
                elif _wraps_a_module(cls):
                    reasons[name] = "an adapter built around the backbone given as its 'module'"
                continue
            if name not in public:
                reasons[name] = "helper module of the backbones package, not exported as a backbone"
            elif _is_abstract_base(name):
                reasons[name] = "abstract base class"
            elif missing := _missing_optional_package(cls):
                reasons[name] = f"needs the package {missing!r}, which is not installed"
        return dict(sorted(reasons.items()))

    def build(self, name: str, **kwargs: Any) -> Any:
        from mmengine.registry import DefaultScope

        _backbones_module(self.library)
        # Some backbones build sub-modules by unscoped type (mmseg UNet's upsample_cfg): they need the
        # library's default scope active while they are constructed.
        with DefaultScope.overwrite_default_scope(self.library):
            return _registry(self.library).build(dict(type=name, **kwargs))

    def build_elsewhere(self, name: str, **kwargs: Any) -> Any:
        """Build as a config of another library does (``type='mmseg.UNet'`` in mmpretrain's scope): the
        default scope is not this library's, here that of no library."""
        from mmengine.registry import DefaultScope

        _backbones_module(self.library)
        with DefaultScope.overwrite_default_scope("mmengine"):
            return _registry(self.library).build(dict(type=f"{self.library}.{name}", **kwargs))

    def custom_import(self) -> str:
        return f"{_PACKAGE[self.library]}.models"

    def lineage(self) -> dict[str, list[str]]:
        _backbones_module(self.library)
        registered = _registry(self.library).module_dict
        found = {}
        for name, cls in registered.items():
            bases = [base.__name__ for base in getattr(cls, "__mro__", ())[1:] if registered.get(base.__name__) is base]
            if bases:
                found[name] = bases
        return dict(sorted(found.items()))

    def published(self, read_config: ModelReader) -> Published:
        from otxgen.libraries.mm_published import published

        return published(self.library, _PACKAGE[self.library], read_config)

    def configured(self, read_config: ModelReader) -> Configured:
        """How the library's shipped configs configure backbones, its own and (by scope) others'."""
        from otxgen.libraries.mm_published import configured

        return configured(self.library, _PACKAGE[self.library], read_config)
