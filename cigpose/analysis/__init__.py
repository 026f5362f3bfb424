"""The paper's analyses: measures on arrays (:mod:`~cigpose.analysis.measures`) and a checkpoint's
predictions on a dataset turned into those tables and figures (:mod:`~cigpose.analysis.run`,
the body of ``cigpose-analyze``)."""

from cigpose.analysis.measures import enrichment, intervention_frequency, score_by_visibility, separation_auc

__all__ = ["enrichment", "intervention_frequency", "score_by_visibility", "separation_auc"]
