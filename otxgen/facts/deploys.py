"""Where a deployment (an export, then the runtime's compile, then the comparison with PyTorch) fails:
the words the export check begins a failure's reason with, and the stage a reason names. The export
check writes them; the committed matrix and ``find``'s Deploys column read them back."""

from __future__ import annotations

CONVERSION_FAILED = "conversion failed"  # the exporter could not convert the traced graph
COMPILE_FAILED = "compile failed"  # converted, and the runtime would not compile it for its device
INFERENCE_FAILED = "inference failed"  # compiled, and the runtime failed on an input
STAGES = {CONVERSION_FAILED: "conversion", COMPILE_FAILED: "compile", INFERENCE_FAILED: "inference"}


def failed_stage(reason: str) -> str:
    """The stage a failed export's reason (``FORMAT: WORDS ...``) begins with: ``conversion``,
    ``compile``, ``inference``, else ``mismatch`` (it ran, and its outputs are not PyTorch's: values
    beyond the tolerance, another shape, NaN)."""
    words = reason.partition(": ")[2] or reason
    return next((stage for start, stage in STAGES.items() if words.startswith(start)), "mismatch")
