"""CIGPose network parts: each a plain ``nn.Module`` in a file named after its idea."""

from cigpose.models.cigpose import CIGPose, PoseOutput
from cigpose.models.cim import CausalInterventionModule, CIMConfig, confounder_score
from cigpose.models.cspnext import CSPNeXt
from cigpose.models.gau import GAU, ScaleNorm
from cigpose.models.gnn import EdgeConv, GNNConfig, HierarchicalGNN, InterPartAttention
from cigpose.models.head import CIGPoseHead

__all__ = [
    "CIGPose",
    "CIGPoseHead",
    "CIMConfig",
    "CSPNeXt",
    "CausalInterventionModule",
    "EdgeConv",
    "GAU",
    "GNNConfig",
    "HierarchicalGNN",
    "InterPartAttention",
    "PoseOutput",
    "ScaleNorm",
    "confounder_score",
]
