"""``otxgen matrix``: which backbones work in which templates, verified cell by cell.

A cell is one backbone (with its arguments) swapped into one template. ``cells`` says what a cell is
and what it found (torch-free); ``cell`` runs one (in a worker process); ``worker`` is that process and
``slot`` the supervisor that enforces a cell's time and memory limits; ``executors`` spread cells over
local slots or Ray actors; ``store`` keeps the records; ``report`` renders them; ``verified`` is the
committed matrix that ``find`` reads.
"""
