"""Generated backbone JSON Schemas (``otxgen schema export``), shipped as the package ``otxgen.schemas``."""
