"""A checkpoint's predictions on a validation split, turned into the paper's analysis tables and
figures (``cigpose-analyze``): Table 7 (intervention frequency), Fig. 3 (confounder score vs
occlusion), Table 5 (enrichment), Fig. 4 (embedding UMAP, needs the optional ``umap-learn``)."""

from __future__ import annotations

from pathlib import Path

import hydra
import numpy as np
import torch
from matplotlib.figure import Figure

from cigpose.analysis.measures import enrichment, intervention_frequency, score_by_visibility
from cigpose.config import compose
from cigpose.models.build import load_model
from cigpose.preprocess import Normalize
from cigpose.topdown.decode import decode_to_image

ANALYSES = ("intervention-frequency", "score-vs-occlusion", "enrichment", "embedding-umap")


@torch.no_grad()
def collect(ckpt: str, overrides: list[str], batch_size: int = 32, flip_test: bool = True) -> dict[str, np.ndarray]:
    """Run the model over the validation split (GT boxes) as evaluation does (flip test, fp32
    decoding): per instance the confounder score and intervened set ``(N, K)`` of the unmirrored
    pass, keypoints ``(N, K, 2)`` in image pixels, box-normalised errors, visibility, the
    keypoint embeddings ``(N, K, D)`` and the canonical table."""
    cfg = compose("train", [*overrides, "data.val.bbox_source=gt", "data.num_workers=0",
                            "data.persistent_workers=false"])
    dm = hydra.utils.instantiate(cfg.data, _recursive_=False)
    dm.setup("validate")
    dataset = dm.datasets["val"]
    gt = dataset.instances.keypoints  # (N, K, 3) image pixels + visibility, in dataset order
    net = load_model(ckpt)
    normalize = Normalize()
    flip = torch.as_tensor(dm.meta.flip_indices) if flip_test else None
    embeddings: list[torch.Tensor] = []
    hook = net.head.tokens.register_forward_hook(lambda m, i, o: embeddings.append(o.detach()))
    out = {k: [] for k in ("confounder_score", "intervened", "keypoints", "valid")}
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False)
    for batch in loader:
        keypoints, _, pred = decode_to_image(net, normalize(batch["image"]), batch["center"], batch["scale"], flip)
        out["keypoints"].append(keypoints)
        out["confounder_score"].append(pred.confounder_score)
        out["intervened"].append(pred.intervened)
        out["valid"].append(batch["valid"])
    hook.remove()
    arrays = {k: torch.cat(v).numpy() for k, v in out.items()}
    scale = np.sqrt(np.maximum(dataset.instances.bbox[:, 2] * dataset.instances.bbox[:, 3], 1.0))[:, None]
    arrays["errors"] = np.linalg.norm(arrays["keypoints"] - gt[..., :2], axis=-1) / scale  # box-normalised
    arrays["visibility"] = gt[..., 2]
    passes = 2 if flip is not None else 1  # flip test: the unmirrored pass runs first in each batch
    arrays["embeddings"] = torch.cat(embeddings[::passes]).numpy()
    cim = net.head.cim
    arrays["canonical"] = cim.canonical.weight.detach().numpy() if cim is not None else np.zeros((0, 0))
    arrays["coarse_parts"] = dm.meta.coarse_parts  # type: ignore[assignment]
    return arrays


def markdown(rows: list[dict]) -> str:
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(f"{r[k]:.3f}" if isinstance(r[k], float) else str(r[k]) for k in keys) + " |"
              for r in rows]
    return "\n".join(lines) + "\n"


def run_analysis(analysis: str, ckpt: str, output: Path, overrides: list[str]) -> dict:
    """One analysis of ``ckpt`` on the configured validation split; tables / figures into ``output``."""
    if analysis not in ANALYSES:
        raise ValueError(f"unknown analysis {analysis!r}; choose one of {', '.join(ANALYSES)}")
    data = collect(ckpt, overrides)
    output.mkdir(parents=True, exist_ok=True)
    valid = data["valid"].astype(bool)
    if analysis == "intervention-frequency":
        freq = intervention_frequency(data["intervened"][valid], data["coarse_parts"])
        (output / "intervention_frequency.md").write_text(
            markdown([{"part": k, "interventions_%": v} for k, v in freq.items()]))
        return {"intervention_frequency": freq}
    if analysis == "score-vs-occlusion":
        groups = score_by_visibility(data["confounder_score"][valid], data["visibility"][valid])
        medians = {k: float(np.median(v)) if len(v) else float("nan") for k, v in groups.items()}
        plot_violins(groups, output / "score_vs_occlusion.png")
        (output / "score_vs_occlusion.md").write_text(
            markdown([{"keypoints": k, "count": len(groups[k]), "median_score": medians[k]} for k in groups]))
        return {"median_score": medians, "counts": {k: len(v) for k, v in groups.items()}}
    if analysis == "enrichment":
        visible = data["visibility"][valid] > 0
        rows = [{"easy_drop": drop, **enrichment(data["errors"][valid], data["intervened"][valid], visible, drop)}
                for drop in (0.0, 0.3, 0.5)]
        (output / "enrichment.md").write_text(markdown(rows))
        return {"enrichment": rows}
    return embedding_umap(data, output)


def plot_violins(groups: dict[str, np.ndarray], path: Path, title: str = "Confounder score by visibility") -> None:
    """Violins of the confounder score per visibility group → ``path`` (PNG)."""
    names = [k for k in groups if len(groups[k])]
    fig = Figure(figsize=(4, 3.2), dpi=120)
    ax = fig.subplots()
    if names:
        ax.violinplot([groups[k] for k in names], showmedians=True)
        ax.set_xticks(range(1, len(names) + 1), names)
    ax.set_ylabel("confounder score")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path)


def embedding_umap(data: dict, output: Path) -> dict:
    try:
        import umap  # type: ignore[import-not-found]
    except ImportError:
        raise ImportError("embedding-umap needs the optional package umap-learn: pip install umap-learn") from None
    emb = data["embeddings"].reshape(-1, data["embeddings"].shape[-1])
    both = np.concatenate([emb, data["canonical"]])
    xy = umap.UMAP(random_state=0).fit_transform(both)
    fig = Figure(figsize=(5, 4), dpi=120)
    ax = fig.subplots()
    ax.scatter(*xy[: len(emb)].T, s=2, alpha=0.3, label="contextual embeddings")
    ax.scatter(*xy[len(emb):].T, s=12, c="red", label="canonical rows")
    ax.legend()
    fig.savefig(output / "embedding_umap.png")
    return {"points": int(len(both))}
