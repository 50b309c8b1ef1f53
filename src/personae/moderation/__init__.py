"""Moderation of what characters write on their own, before it is published."""

from personae.moderation.model_check import model_verdict
from personae.moderation.rules import Verdict, check_rules
from personae.moderation.service import moderate

__all__ = ["Verdict", "check_rules", "model_verdict", "moderate"]
