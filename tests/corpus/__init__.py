"""The real-config corpus: swap the backbone of configs nobody here wrote, then check the result.

Data flows one way, top to bottom:

- ``sample``: the corpus paths, their walk order, the configs copy; the originals loaded, built and
  run (or excluded), their input sizes and data samples.
- ``targets``: the target of each sampled config, from the committed schemas.
- ``checks``: the ``otxgen`` CLI in-process, refusals, and the checks of a swapped config.
- ``run``: the records, one interpreter per library (``python -m corpus.run``), ``run_corpus``.
- ``report``: the summary table and the listings.
"""
