"""The LightningModule: wires network, loss, EMA, optimiser and evaluation — no model math.

Reads like §3.4 of the paper: the counterfactual path and the observational path, two losses,
one sum.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import lightning as L
import torch
from lightning.pytorch.loggers import WandbLogger
from omegaconf import DictConfig, OmegaConf
from torch import nn

from cigpose.evaluation.metric import KeypointAPMetric
from cigpose.losses import CIGPoseLoss
from cigpose.models import CIGPose
from cigpose.preprocess import Normalize
from cigpose.topdown.decode import crop_wh, decode_crops
from cigpose.topdown.geometry import crop_to_image
from cigpose.training.ema import ExpMomentumEMA
from cigpose.training.metrics import InterventionShare, simcc_pck_accuracy
from cigpose.training.optim import (
    build_optimizer,
    build_schedule,
    freeze_parameters,
    scaled_lr,
)

log = logging.getLogger("cigpose.training")


def _cfg(value: Any) -> dict:
    if isinstance(value, DictConfig):
        return OmegaConf.to_container(value, resolve=True)  # type: ignore[return-value]
    return dict(value or {})


class PoseLitModule(L.LightningModule):
    """Args:
    net: the CIGPose / RTMPose network.
    loss: the training objective.
    optim: ``lr``, ``reference_batch`` (lr is scaled by total batch / this), ``weight_decay``,
        ``schedule`` (wholebody | body | constant), ``warmup_iters``, ``lr_mult`` (parameter-name
        prefix → lr multiplier, e.g. ``{backbone: 0.5}``).
    ema: ``enabled``, ``momentum``, ``gamma``.
    evaluation: ``flip_test`` and the metric's rescoring options.
    channels_last: network weights and inputs in channels-last memory format (EMA copy too).
    compile: ``torch.compile`` the training network in place (``nn.Module.compile``) in
        ``configure_model``: parameter names, ``state_dict`` keys, checkpoints and the EMA copy
        stay those of the plain network. The EMA network used for evaluation runs eager.
    freeze: parameter-name prefixes not trained, e.g. ``[backbone.stem, backbone.stage1]``
        (MMPose's ``frozen_stages``); their batch norms stay in eval mode (pretrained statistics).
    """

    def __init__(
        self,
        net: CIGPose,
        loss: CIGPoseLoss | None = None,
        optim: Any = None,
        ema: Any = None,
        evaluation: Any = None,
        channels_last: bool = False,
        max_nonfinite_steps: int = 10,
        compile: bool = False,
        freeze: Sequence[str] = (),
    ):
        super().__init__()
        self.frozen_norms = freeze_parameters(net, list(freeze))  # before the EMA copy: same flags
        if freeze:
            trained = sum(p.numel() for p in net.parameters() if p.requires_grad)
            total = sum(p.numel() for p in net.parameters())
            log.info("frozen: %s (%d of %d parameters still trained)", ", ".join(freeze), trained, total)
        if channels_last:  # before the EMA copy, so both networks share the layout
            net = net.to(memory_format=torch.channels_last)
        self.net = net
        self.compile_net = compile
        self.net_compiled = False  # compiled once, however many times Lightning calls configure_model
        self.loss = loss or CIGPoseLoss()
        self.optim_cfg = {
            "lr": 2e-3,
            "reference_batch": 512,
            "weight_decay": 0.05,
            "schedule": "wholebody",
            "warmup_iters": 1000,
            "lr_mult": {},
            **_cfg(optim),
        }
        ema_cfg = {"enabled": True, "momentum": 2e-4, "gamma": 2000.0, **_cfg(ema)}
        self.eval_cfg = {"flip_test": True, **_cfg(evaluation)}
        self.ema = (
            ExpMomentumEMA(net, ema_cfg["momentum"], ema_cfg["gamma"])
            if ema_cfg["enabled"]
            else None
        )
        self.normalize = Normalize(channels_last)
        self.max_nonfinite_steps = max_nonfinite_steps
        self.unreadable_eval_images = 0
        self.nonfinite_steps = 0
        self.consecutive_nonfinite = 0
        self.save_hyperparameters(ignore=["net", "loss"])
        self.metrics = nn.ModuleDict()
        self.intervention_share: InterventionShare | None = None
        # kept across fit / validate / test (setup runs again for each)
        self.last_results: dict[str, list[dict]] = {}  # split → COCO results of its last evaluation
        self.evaluated: dict[str, dict[str, Any]] = {}  # split → epochs / step of the weights scored
        # one crop: Lightning's model summary runs it (in eval mode) to count FLOPs
        self.example_input_array = torch.zeros(1, 3, *net.input_hw, dtype=torch.uint8)

    def train(self, mode: bool = True) -> PoseLitModule:
        """Lightning's ``train()``, with the frozen parts' batch norms kept in eval mode."""
        super().train(mode)
        for name in self.frozen_norms:
            self.net.get_submodule(name).eval()
        return self

    def forward(self, images: torch.Tensor) -> Any:
        """uint8 crops ``(B, 3, H, W)`` → the network's output (SimCC logits or heatmaps)."""
        return self.net(self.normalize(images))

    # ----------------------------------------------------------------- setup
    def configure_model(self) -> None:
        """``compile``: compile the training network once, in every process, after the EMA copy."""
        if self.compile_net and not self.net_compiled:
            self.net.compile()
            self.net_compiled = True

    def setup(self, stage: str) -> None:
        dm = self.trainer.datamodule
        meta = dm.meta
        if meta.num_keypoints != self.net.num_keypoints:
            raise ValueError(
                f"data has {meta.num_keypoints} keypoints, model.num_keypoints is "
                f"{self.net.num_keypoints}"
            )
        self.register_buffer(
            "flip_indices", torch.as_tensor(meta.flip_indices, dtype=torch.long), persistent=False
        )
        self.intervention_share = InterventionShare(meta.coarse_parts, meta.num_keypoints)
        options = {k: v for k, v in self.eval_cfg.items() if k != "flip_test"}
        metrics = {}
        for split in ("val", "test"):
            gt_file = dm.evaluation_ground_truth(split)
            if gt_file is not None:
                metrics[split] = KeypointAPMetric(gt_file, dm.evaluation_dataset, **options)
        self.metrics = nn.ModuleDict(metrics)

    def evaluation_net(self) -> nn.Module:
        """The EMA weights when kept (the reference validates with them), else the live ones."""
        return self.ema.module if self.ema is not None else self.net

    # -------------------------------------------------------------- training
    def step_losses(
        self, batch: dict[str, torch.Tensor]
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor | None]:
        """Everything ``training_step`` computes on a batch — uint8 crops normalised (and laid out
        as configured), then :meth:`compute_losses` — without the logging (usable outside a fit:
        the speed checks and the training benchmark run exactly this)."""
        return self.compute_losses(self.normalize(batch["image"]), batch)

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor | None:
        losses, acc, selected = self.step_losses(batch)
        b = batch["image"].shape[0]
        if not self._loss_is_finite(losses["total"]):
            return None  # skipped on every rank alike; counted and logged
        self.log_dict(
            {f"loss/{k}": v.detach() for k, v in losses.items() if k != "total"},
            batch_size=b,
            on_step=True,
            on_epoch=True,
            prog_bar=False,
            sync_dist=False,
        )
        self.log("loss/total", losses["total"].detach(), prog_bar=True, batch_size=b)
        self.log("train/acc_pose", acc, prog_bar=True, batch_size=b)
        self.log("data/resampled_unreadable", batch["resampled"].float().sum(), on_step=False, on_epoch=True,
                 reduce_fx="sum", batch_size=b)
        if self.intervention_share is not None and selected is not None:
            for part, share in self.intervention_share(selected).items():
                self.log(f"cim/intervened_per_part/{part}", share, batch_size=b)
        return losses["total"]

    def compute_losses(
        self, images: torch.Tensor, batch: dict[str, torch.Tensor]
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor | None]:
        """§3.4: the losses (``total`` among them), the training PCK, and the intervened set
        ``(B, K)`` (None without a CIM)."""
        out = self.net(images, observational=True)  # P_cf, then P_obs without gradient
        losses = self.loss(out, batch["target_x"], batch["target_y"], batch["keypoint_weights"])
        acc = simcc_pck_accuracy(
            out.simcc_x.detach(),
            out.simcc_y.detach(),
            batch["target_x"],
            batch["target_y"],
            batch["keypoint_weights"],
        )
        return losses, acc, out.intervened if self.net.head.cim is not None else None

    def _loss_is_finite(self, loss: torch.Tensor) -> bool:
        """All ranks agree; a non-finite loss skips the step (``_skipped``)."""
        finite = torch.isfinite(loss.detach()).float()
        if self.trainer.world_size > 1:
            finite = self.trainer.strategy.reduce(finite, reduce_op="min")
        if bool(finite > 0):
            return True
        self._skipped("loss")
        return False

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        """Non-finite gradients after a finite loss skip the step too: every gradient is dropped,
        so no parameter (and no AdamW moment) moves; clipping would otherwise spread the NaN to
        every weight. Seen for real on a 2-core AMD EPYC under bf16 autocast: oneDNN's weight
        gradient of the 7×7 keypoint conv is now and then NaN on a tiny feature map (1 step in
        10 of tests/test_speed_options.py's CIGPose-t at 64×64). Gradients are reduced across
        ranks before this hook, so all ranks decide alike (gradients so large that their norm
        overflows count as non-finite). A step with finite gradients ends a run of faults."""
        grads = [p.grad for p in self.net.parameters() if p.grad is not None]
        if not grads:  # Lightning calls this hook after a skipped training_step too
            return
        norms = torch.stack([torch.linalg.vector_norm(g.detach()) for g in grads])
        if bool(torch.isfinite(norms).all()):
            self.consecutive_nonfinite = 0
            return
        for param in self.net.parameters():
            param.grad = None
        self._skipped("gradient")

    def _skipped(self, what: str) -> None:
        """Count, log and warn about a skipped step; after ``max_nonfinite_steps`` in a row the
        run stops (the last good checkpoint stays as it is)."""
        self.nonfinite_steps += 1
        self.consecutive_nonfinite += 1
        log.warning(
            "non-finite %s at global step %d: step skipped (%d so far, %d in a row)",
            what, self.global_step, self.nonfinite_steps, self.consecutive_nonfinite,
        )
        if self._trainer is not None:
            self.log("fault/nonfinite_steps", float(self.nonfinite_steps), on_step=True, on_epoch=False)
        if self.consecutive_nonfinite >= self.max_nonfinite_steps:
            raise FloatingPointError(
                f"the loss or its gradients were NaN/Inf for {self.consecutive_nonfinite} consecutive "
                f"steps (limit module.max_nonfinite_steps={self.max_nonfinite_steps}); stopping. The "
                "last good checkpoint is untouched in the run's checkpoints/ folder."
            )

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        if self.ema is not None and outputs is not None:
            self.ema.update(self.net)

    # ------------------------------------------------------------ evaluation
    def _evaluate_batch(
        self, batch: dict[str, torch.Tensor], metric: Any
    ) -> dict[str, torch.Tensor]:
        images = self.normalize(batch["image"])
        flip = getattr(self, "flip_indices", None) if self.eval_cfg["flip_test"] else None
        coords, scores = self.predict_crops(images, flip)
        keypoints = crop_to_image(coords, batch["center"], batch["scale"], crop_wh(self.net))
        valid = batch["valid"]
        if not bool(valid.all()):  # unreadable images: reported, left out of the metric
            self.unreadable_eval_images += int((~valid).sum())
            log.warning("evaluation: %d unreadable image(s) so far", self.unreadable_eval_images)
            keep = valid.nonzero().flatten()
            batch = {k: v[keep] for k, v in batch.items() if isinstance(v, torch.Tensor)}
            keypoints, scores, coords = keypoints[keep], scores[keep], coords[keep]
        metric.update(
            batch["image_id"],
            batch["instance_id"],
            keypoints,
            scores,
            batch["bbox_score"],
            batch["scale"].prod(-1),
        )
        return {"keypoints_crop": coords, "scores": scores}

    def predict_crops(
        self, images: torch.Tensor, flip_indices: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised crops ``(B, 3, H, W)`` → crop-pixel keypoints ``(B, K, 2)`` and scores
        ``(B, K)`` with the evaluation weights (flip test when ``flip_indices`` is given)."""
        coords, scores, _ = decode_crops(self.evaluation_net(), images, flip_indices)
        return coords, scores

    def validation_step(
        self, batch: dict[str, torch.Tensor], batch_idx: int
    ) -> dict[str, torch.Tensor]:
        return self._evaluate_batch(batch, self.metrics["val"])

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> dict[str, torch.Tensor]:
        return self._evaluate_batch(batch, self.metrics["test"])

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["model"] = self.net.config  # the architecture travels with the weights
        for logger in self.loggers:  # resume the same W&B run after a requeue
            if isinstance(logger, WandbLogger):
                checkpoint["wandb_run_id"] = logger.version

    def _finish_evaluation(self, split: str) -> None:
        metric = self.metrics[split]
        values = metric.compute()  # gathers every rank's predictions, then scores once per rank
        self.last_results[split] = metric.last_results
        steps_per_epoch = getattr(self, "steps_per_epoch", None)  # None before the first training step
        self.evaluated[split] = {  # epochs trained (from the step: Lightning's epoch counter is off by one after fit)
            "epochs": round(self.global_step / steps_per_epoch, 2) if steps_per_epoch else None,
            "step": int(self.global_step),
            "weights": "ema" if self.ema is not None else "live",
        }
        metric.reset()
        self.log_dict({f"{split}/{k}": float(v) for k, v in values.items()}, sync_dist=False)

    def on_validation_epoch_end(self) -> None:
        if not self.trainer.sanity_checking:
            self._finish_evaluation("val")
        else:
            self.metrics["val"].reset()

    def on_test_epoch_end(self) -> None:
        self._finish_evaluation("test")

    # ------------------------------------------------------------- optimiser
    def configure_optimizers(self) -> dict:
        cfg = self.optim_cfg
        total_batch = self._total_batch_size()
        lr = scaled_lr(cfg["lr"], total_batch, cfg["reference_batch"])
        optimizer = build_optimizer(self.net, lr, cfg["weight_decay"], lr_mult=cfg["lr_mult"])
        schedule = build_schedule(cfg["schedule"], self._max_epochs(), int(cfg["warmup_iters"]))
        self.steps_per_epoch = None

        def factor(step: int) -> float:
            # Steps per epoch are read at the first optimiser step, not here: asking for
            # trainer.estimated_stepping_batches now would make Lightning build the train loader
            # before a resumed run's loop state is restored (its first iterator would draw epoch 0's
            # order and augmentation). LambdaLR calls this with step 0 at construction.
            return schedule.factor(step, step / self._steps_per_epoch() if step else 0.0)

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }

    def _max_epochs(self) -> int:
        return max(int(self.trainer.max_epochs or 1), 1)

    def _steps_per_epoch(self) -> int:
        """Optimiser steps per epoch of the schedule (Lightning's public estimate, once training runs)."""
        if self.steps_per_epoch is None:
            self.steps_per_epoch = max(int(math.ceil(self.trainer.estimated_stepping_batches / self._max_epochs())), 1)
        return self.steps_per_epoch

    def _total_batch_size(self) -> int:
        dm = self.trainer.datamodule
        per_device = int(getattr(dm, "batch_size", 1))
        return per_device * int(self.trainer.world_size) * int(self.trainer.accumulate_grad_batches)
