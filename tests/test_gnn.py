"""EdgeConv and inter-part attention match hand computations (SPEC §4)."""

from __future__ import annotations

import torch
from torch import nn

from cigpose.graphs import KeypointGraph, load_graph
from cigpose.models.gnn import EdgeConv, InterPartAttention


def _identity_bn_conv(edge_conv: EdgeConv, weight: torch.Tensor) -> None:
    """Make the edge MLP a pure linear map followed by SiLU (BN as identity in eval)."""
    conv, bn, _ = edge_conv.conv
    with torch.no_grad():
        conv.weight.copy_(weight.view(*weight.shape, 1, 1))
        bn.running_mean.zero_()
        bn.running_var.fill_(1 - bn.eps)
        bn.weight.fill_(1.0)
        bn.bias.zero_()
    edge_conv.eval()


def test_edgeconv_on_a_three_node_path_equals_hand_computation() -> None:
    # Path 0 - 1 - 2, C = 2. Node 1 has two neighbours, the ends one each.
    graph = KeypointGraph("path", 3, ((0, 1), (1, 2)), (), ())
    edge_conv = EdgeConv(2, graph.directed_edges(), 3)
    w = torch.tensor([[1.0, 0.0, 2.0, 0.0], [0.0, -1.0, 0.0, 0.5]])  # (C_out, 2C)
    _identity_bn_conv(edge_conv, w)
    h = torch.tensor([[[1.0, 2.0], [3.0, -1.0], [0.5, 4.0]]])

    def message(i: int, j: int) -> torch.Tensor:
        feature = torch.cat([h[0, i], h[0, j] - h[0, i]])
        return nn.functional.silu(w @ feature)

    expected = torch.stack([message(0, 1), message(1, 0) + message(1, 2), message(2, 1)])
    assert torch.allclose(edge_conv(h)[0], expected, atol=1e-6)


def test_node_without_edges_receives_zero() -> None:
    graph = KeypointGraph("pair+1", 3, ((0, 1),), (), ())
    edge_conv = EdgeConv(4, graph.directed_edges(), 3).eval()
    assert torch.equal(edge_conv(torch.randn(2, 3, 4))[:, 2], torch.zeros(2, 4))


def _attention_with_group_weights(graph: KeypointGraph, channels: int = 8) -> InterPartAttention:
    attention = InterPartAttention(channels, graph).eval()
    return attention


def test_group_weight_of_keypoint_in_two_groups_is_their_mean_and_ungrouped_is_one() -> None:
    # keypoint 1 in groups A and B, keypoint 3 in none.
    graph = KeypointGraph("toy", 4, ((0, 1),), ("A", "B"), ((0, 1), (1, 2)))
    attention = _attention_with_group_weights(graph)
    captured: dict[str, torch.Tensor] = {}
    attention.up.register_forward_hook(lambda m, i, o: captured.__setitem__("w", torch.sigmoid(o)))
    h = torch.randn(2, 4, 8)
    out = attention(h)
    w = captured["w"]  # (B, groups, C)
    assert torch.allclose(out[:, 0], h[:, 0] * w[:, 0], atol=1e-6)
    assert torch.allclose(out[:, 1], h[:, 1] * (w[:, 0] + w[:, 1]) / 2, atol=1e-6)
    assert torch.allclose(out[:, 2], h[:, 2] * w[:, 1], atol=1e-6)
    assert torch.equal(out[:, 3], h[:, 3])


def test_packaged_graphs_are_consistent() -> None:
    for name, k, groups in [("coco_wholebody", 133, 32), ("coco", 17, 6), ("crowdpose", 14, 7)]:
        graph = load_graph(name)
        assert graph.num_keypoints == k and len(graph.groups) == groups
        edges = graph.directed_edges()
        assert edges.shape[1] == 2 * len(graph.links)
        assert len(set(map(tuple, edges.T.tolist()))) == edges.shape[1], "duplicate directed edge"
        assert graph.group_edges().shape[1] == groups * (groups - 1)


def test_packaged_graphs_equal_the_reference_spec() -> None:
    import pytest
    import yaml

    from cigpose.paths import fixtures_dir

    root = fixtures_dir()
    spec = root.parent / "spec" / "graphs.yaml" if root else None
    if spec is None or not spec.is_file():
        pytest.skip(
            "../shared/spec/graphs.yaml not found (set CIGPOSE_FIXTURES to the shared fixtures)"
        )
    reference = yaml.safe_load(spec.read_text())
    for name, ref in reference.items():
        graph = load_graph(name)
        assert [list(link) for link in graph.links] == ref["skeleton_edges"]
        assert [list(group) for group in graph.groups] == ref["semantic_groups"]


def test_edgeconv_gradients_pass_finite_difference_check() -> None:
    # torch 2.14's CPU batch_norm backward is wrong for a channels-last-strided grad with a
    # trailing size-1 dim; EdgeConv must never hand it one (it once did: gradcheck failed)
    torch.manual_seed(0)
    conv = EdgeConv(4, torch.randint(0, 6, (2, 10)), 6).double().train()
    h = torch.randn(3, 6, 4, dtype=torch.double, requires_grad=True)
    assert torch.autograd.gradcheck(conv, (h,))
