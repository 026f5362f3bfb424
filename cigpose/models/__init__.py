"""Networks and their parts: each a plain ``nn.Module`` in a file named after its idea;
:mod:`cigpose.models.build` constructs them from config and loads weights."""

from cigpose.models.backbones import TimmBackbone, build_backbone
from cigpose.models.cigpose import CIGPose
from cigpose.models.cim import CausalInterventionModule, CIMConfig, confounder_score
from cigpose.models.cspnext import CSPNeXt
from cigpose.models.gau import GAU, ScaleNorm
from cigpose.models.gnn import EdgeConv, GNNConfig, HierarchicalGNN, InterPartAttention
from cigpose.models.head import CIGPoseHead, PoseOutput
from cigpose.models.heatmap import HeatmapPose

__all__ = [
    "CIGPose",
    "CIGPoseHead",
    "CIMConfig",
    "CSPNeXt",
    "CausalInterventionModule",
    "EdgeConv",
    "GAU",
    "GNNConfig",
    "HeatmapPose",
    "HierarchicalGNN",
    "InterPartAttention",
    "PoseOutput",
    "ScaleNorm",
    "TimmBackbone",
    "build_backbone",
    "confounder_score",
]
