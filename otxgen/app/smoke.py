"""``otxgen smoke [MODEL.py]``: load (executes the config), build, check the backbone fits, report."""

from __future__ import annotations

from pathlib import Path

from otxgen.app import Outcome, Say
from otxgen.errors import InputError, MissingExtraError
from otxgen.options import SmokeOptions

DEFAULT_MODEL = Path("model.py")


def smoke(options: SmokeOptions, say: Say) -> Outcome:
    """Smoke-build ``options.model`` (default ``./model.py``); exit 1 when anything does not fit."""
    path = options.model if options.model is not None else DEFAULT_MODEL
    if not path.is_file():
        where = "" if options.model is not None else " (no MODEL given and no model.py in the current directory)"
        raise InputError(f"no such model config{where}", str(path))
    try:
        from otxgen.smoke.report import render_json, render_table
        from otxgen.smoke.run import run_smoke
    except ImportError as error:
        raise MissingExtraError(
            f"otxgen smoke needs torch and the OpenMMLab stack (pip install 'otxgen[mm]'): {error}"
        ) from error
    if options.export is not None:
        from otxgen.smoke.export import require_runtime

        require_runtime(options.export)  # before the (slow) build: a missing extra is a usage error
    result = run_smoke(
        path,
        options.device,
        options.input_size,
        options.train_step,
        say,
        options.export,
        options.weights_check,
        options.backbone_dtype,
    )
    render = render_json if options.output_format == "json" else render_table
    return Outcome(render(result), 0 if result.ok else 1)
