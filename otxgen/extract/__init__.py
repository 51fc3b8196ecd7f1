"""``schema export``'s pipeline: from the installed libraries (signatures, docstrings, arch tables, the
channel/stride table measured with the shape probe, the catalog's costs and checkpoints) to the JSON
Schemas committed under ``schemas/``. Above ``otxgen.shapes`` and ``otxgen.libraries`` (it measures),
below ``otxgen.app``; everything that only reads the committed schemas is ``otxgen.schema``."""
