"""Two augmentation stages (SPEC §5): from ``stage2_epoch`` the box shift is 0, CoarseDropout
p 0.5 and the scale/rotation ranges narrow.

The stage is derived from the epoch number, so it survives resume. It is set at the end of the
previous epoch (before workers prefetch the next one) and at fit start; the datasets keep it in
shared memory, so persistent worker processes pick it up.
"""

from __future__ import annotations

import lightning as L


class AugmentationStageSwitch(L.Callback):
    def __init__(self, stage2_epoch: int):
        self.stage2_epoch = int(stage2_epoch)

    def stage(self, epoch: int) -> int:
        return 2 if epoch >= self.stage2_epoch else 1

    def _apply(self, trainer: L.Trainer, epoch: int) -> None:
        dm = trainer.datamodule
        if dm is not None and hasattr(dm, "set_stage"):
            dm.set_stage(self.stage(epoch))
            dm.set_epoch(epoch)

    def on_fit_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self._apply(trainer, trainer.current_epoch)

    def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self._apply(trainer, trainer.current_epoch + 1)

    def on_train_epoch_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        module.log("data/augmentation_stage", float(self.stage(trainer.current_epoch)), on_step=False,
                   on_epoch=True)
