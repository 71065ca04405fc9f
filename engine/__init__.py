"""bando's engine: compile a policy once, evaluate applications, explain, rank, write letters.

>>> from engine import load_policy
>>> policy = load_policy("policies/salentonet.bando")   # doctest: +SKIP
>>> policy.evaluate(application).to_dict()               # doctest: +SKIP
"""
from dsl.errors import PolicyError

from .policy import Policy, load_application, load_policy
from .result import Decision, Result

__all__ = ["load_policy", "load_application", "Policy", "Result", "Decision", "PolicyError"]
