"""bando's engine: compile a policy once, evaluate applications, explain, rank, write letters.

>>> from engine import load_policy
>>> policy = load_policy("policies/salentonet.bando")   # doctest: +SKIP
>>> policy.evaluate(application).to_dict()               # doctest: +SKIP
>>> from engine import score_batch                        # a whole batch: ranking, outputs, letters
>>> score_batch("policies/salentonet.bando", open("batch.jsonl"), "out/")   # doctest: +SKIP
"""
from dsl.errors import PolicyError

from engine.evaluate.policy import Policy, load_application, load_policy
from engine.score.batch import BatchSummary, score_batch
from engine.score.batch_io import BatchError
from engine.evaluate.result import Decision, Result

__all__ = ["load_policy", "load_application", "Policy", "Result", "Decision", "PolicyError",
           "score_batch", "BatchSummary", "BatchError"]
