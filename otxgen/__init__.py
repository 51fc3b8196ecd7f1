"""otxgen: swap the backbone of an OpenMMLab model config, statically and losslessly."""

__version__ = "0.1.0"
