"""A batch: read it, score every row in one pass, rank and allocate the budget, write the run's files as one unit, record and verify it, compare runs."""
