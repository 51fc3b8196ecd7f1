"""Where a deployment (an export, then the runtime's compile, then the comparison with PyTorch) fails:
the words the export check begins a failure's reason with, and the stage a reason names. The export
check writes them; the committed matrix and ``find``'s Deploys column read them back."""

from __future__ import annotations

CONVERSION_FAILED = "conversion failed"  # the exporter could not convert the traced graph
COMPILE_FAILED = "compile failed"  # converted, and the runtime would not compile it for its device
STAGES = ("conversion", "compile", "mismatch")


def failed_stage(reason: str) -> str:
    """The stage a failed export's reason names: ``conversion``, ``compile``, or ``mismatch`` (it ran,
    and its outputs are not PyTorch's within the tolerance)."""
    if COMPILE_FAILED in reason:
        return "compile"
    if CONVERSION_FAILED in reason:
        return "conversion"
    return "mismatch"
