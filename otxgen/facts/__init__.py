"""The bottom layer: pure domain facts, each written once, importing nothing of otxgen.

Who reads a backbone's outputs (``consumers``), value equality (``values``), arguments by meaning
(``arguments``). Every layer above reads them here, so plan, validate, smoke and matrix cannot disagree.
"""
