"""Start-up checks: a config value out of range fails before any data is read, naming the key."""

from __future__ import annotations

from omegaconf import DictConfig

from cigpose.models.cim import CIMConfig


class ConfigError(ValueError):
    """A configuration value that cannot work."""


def validate_config(cfg: DictConfig) -> None:
    model = cfg.model
    k = int(model.num_keypoints)
    h, w = (int(v) for v in model.input_size)
    if h % 32 or w % 32 or h <= 0 or w <= 0:
        raise ConfigError(f"data.input_size={[h, w]}: both sides must be positive multiples of 32")
    heatmap_model = "deconv_channels" in model
    codec = cfg.get("data", {}).get("codec", "simcc")
    if heatmap_model != (codec == "udp_heatmap"):
        raise ConfigError(
            f"data.codec={codec!r} does not fit the model: heatmap models (model=heatmap_*, module=heatmap) "
            "train on data.codec=udp_heatmap, CIGPose / RTMPose on data.codec=simcc"
        )
    if heatmap_model:
        # the head's deconvolutions (2x each from stride 32) and the targets must agree
        head_stride = 32 // 2 ** len(model.deconv_channels)
        data_stride = int(cfg.get("data", {}).get("heatmap_stride", 4))
        if head_stride != data_stride:
            raise ConfigError(
                f"data.heatmap_stride={data_stride} does not fit model.deconv_channels "
                f"({len(model.deconv_channels)} deconvolutions predict heatmaps at stride {head_stride})"
            )
        return
    try:
        CIMConfig(**dict(model.cim)).validate(k)
    except (TypeError, ValueError) as err:
        raise ConfigError(str(err)) from None
    loss = cfg.get("module", {}).get("loss", {}) or {}
    lam = loss.get("consistency_weight", 0.1)
    if lam is None or float(lam) < 0:
        raise ConfigError(f"module.loss.consistency_weight (λ) must be >= 0, got {lam}")
    if int(model.gnn.get("num_layers", 1)) < 1:
        raise ConfigError(f"model.gnn.num_layers must be >= 1, got {model.gnn.num_layers}")
