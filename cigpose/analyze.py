"""``cigpose-analyze ANALYSIS ckpt=PATH [output=DIR] [Hydra overrides ...]``

ANALYSIS: ``intervention-frequency`` (Table 7), ``score-vs-occlusion`` (Fig. 3),
``enrichment`` (Table 5), ``embedding-umap`` (Fig. 4, needs the optional ``umap-learn``).
The checkpoint's network runs in eval mode on the validation split of the configured data
(``data=...`` / ``experiment=...``; GT boxes are used so every prediction has its ground truth).
Each writes a Markdown table (and a PNG where there is a figure) into ``output``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import hydra
import numpy as np
import torch

from cigpose.analysis import enrichment, intervention_frequency, score_by_visibility
from cigpose.codec.simcc import decode_simcc
from cigpose.config import compose
from cigpose.data.transforms import crop_to_image
from cigpose.inference.loading import load_model
from cigpose.preprocess import Normalize

ANALYSES = ("intervention-frequency", "score-vs-occlusion", "enrichment", "embedding-umap")


@torch.no_grad()
def collect(ckpt: str, overrides: list[str], batch_size: int = 32) -> dict[str, np.ndarray]:
    """Run the model over the validation split (GT boxes): scores, selections, errors, visibility,
    embeddings and the canonical table."""
    cfg = compose("train", [*overrides, "data.val.bbox_source=gt", "data.num_workers=0",
                            "data.persistent_workers=false"])
    dm = hydra.utils.instantiate(cfg.data, _recursive_=False)
    dm.setup("validate")
    dataset = dm.datasets["val"]
    gt = dataset.instances.keypoints  # (N, K, 3) image pixels + visibility, in dataset order
    net = load_model(ckpt)
    normalize = Normalize()
    embeddings: list[torch.Tensor] = []
    hook = net.head.tokens.register_forward_hook(lambda m, i, o: embeddings.append(o.detach()))
    out = {k: [] for k in ("score", "selected", "keypoints", "valid")}
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False)
    for batch in loader:
        pred = net(normalize(batch["image"]))
        coords, _ = decode_simcc(pred.simcc_x, pred.simcc_y, net.split_ratio)
        h, w = net.input_size
        out["keypoints"].append(crop_to_image(coords, batch["center"], batch["scale"], (w, h)))
        out["score"].append(pred.score)
        out["selected"].append(pred.selected)
        out["valid"].append(batch["valid"])
    hook.remove()
    arrays = {k: torch.cat(v).numpy() for k, v in out.items()}
    scale = np.sqrt(np.maximum(dataset.instances.bbox[:, 2] * dataset.instances.bbox[:, 3], 1.0))[:, None]
    arrays["errors"] = np.linalg.norm(arrays["keypoints"] - gt[..., :2], axis=-1) / scale  # box-normalised
    arrays["visibility"] = gt[..., 2]
    arrays["embeddings"] = torch.cat(embeddings).numpy()
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


def run(analysis: str, ckpt: str, output: Path, overrides: list[str]) -> dict:
    if analysis not in ANALYSES:
        raise SystemExit(f"unknown analysis {analysis!r}; choose one of {', '.join(ANALYSES)}")
    data = collect(ckpt, overrides)
    output.mkdir(parents=True, exist_ok=True)
    valid = data["valid"].astype(bool)
    if analysis == "intervention-frequency":
        freq = intervention_frequency(data["selected"][valid], data["coarse_parts"])
        (output / "intervention_frequency.md").write_text(
            markdown([{"part": k, "interventions_%": v} for k, v in freq.items()]))
        return {"intervention_frequency": freq}
    if analysis == "score-vs-occlusion":
        groups = score_by_visibility(data["score"][valid], data["visibility"][valid])
        medians = {k: float(np.median(v)) if len(v) else float("nan") for k, v in groups.items()}
        plot_violins(groups, output / "score_vs_occlusion.png")
        (output / "score_vs_occlusion.md").write_text(
            markdown([{"keypoints": k, "count": len(groups[k]), "median_score": medians[k]} for k in groups]))
        return {"median_score": medians, "counts": {k: len(v) for k, v in groups.items()}}
    if analysis == "enrichment":
        visible = data["visibility"][valid] > 0
        rows = [{"easy_drop": drop, **enrichment(data["errors"][valid], data["selected"][valid], visible, drop)}
                for drop in (0.0, 0.3, 0.5)]
        (output / "enrichment.md").write_text(markdown(rows))
        return {"enrichment": rows}
    return embedding_umap(data, output)


def plot_violins(groups: dict[str, np.ndarray], path: Path, title: str = "Confounder score by visibility") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [k for k in groups if len(groups[k])]
    fig, ax = plt.subplots(figsize=(4, 3.2), dpi=120)
    if names:
        ax.violinplot([groups[k] for k in names], showmedians=True)
        ax.set_xticks(range(1, len(names) + 1), names)
    ax.set_ylabel("confounder score")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def embedding_umap(data: dict, output: Path) -> dict:
    try:
        import umap  # type: ignore[import-not-found]
    except ImportError:
        raise SystemExit("embedding-umap needs the optional package umap-learn: pip install umap-learn") from None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    emb = data["embeddings"].reshape(-1, data["embeddings"].shape[-1])
    both = np.concatenate([emb, data["canonical"]])
    xy = umap.UMAP(random_state=0).fit_transform(both)
    fig, ax = plt.subplots(figsize=(5, 4), dpi=120)
    ax.scatter(*xy[: len(emb)].T, s=2, alpha=0.3, label="contextual embeddings")
    ax.scatter(*xy[len(emb):].T, s=12, c="red", label="canonical rows")
    ax.legend()
    fig.savefig(output / "embedding_umap.png")
    plt.close(fig)
    return {"points": int(len(both))}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    analysis, rest = args[0], args[1:]
    opts = {a.split("=", 1)[0]: a.split("=", 1)[1] for a in rest if a.startswith(("ckpt=", "output="))}
    overrides = [a for a in rest if not a.startswith(("ckpt=", "output="))]
    if "ckpt" not in opts:
        raise SystemExit("missing ckpt=PATH")
    print(json.dumps(run(analysis, opts["ckpt"], Path(opts.get("output", "analysis")), overrides), default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
