"""Two augmentation stages (SPEC §5): from ``stage2_epoch`` the box shift is 0, CoarseDropout
p 0.5 and the scale/rotation ranges narrow.

The stage (and the epoch that seeds each sample's augmentation draws) is derived from the epoch
number, so it survives resume: it is set at train start (after Lightning has restored the loops
of a resumed run, before the first batch is fetched) and at the end of each epoch for the next
one (before persistent workers prefetch it). The datasets keep both in shared memory, so worker
processes see the change without the loader being rebuilt. It also counts the batches trained in
the current epoch (public hooks only), so that a checkpoint saved mid-epoch records where the epoch
stopped. ``PoseDataModule`` needs this callback: without it every epoch uses stage 1 and the
epoch-0 draws.
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

    def on_train_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        # not on_fit_start: Lightning restores a resumed run's epoch between the two
        epoch = trainer.current_epoch
        self._apply(trainer, epoch)
        self._start_batch_count(trainer)  # a run resumed mid-epoch gets no on_train_epoch_start for it
        if epoch > 0:
            _restart_train_iterator(trainer, epoch)

    def on_train_batch_end(self, trainer: L.Trainer, module: L.LightningModule, outputs: object, batch: object,
                           batch_idx: int) -> None:
        dm = trainer.datamodule
        if dm is not None and hasattr(dm, "count_batch"):
            dm.count_batch()  # where an epoch stopped, for a mid-epoch checkpoint (PoseDataModule.state_dict)

    def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self._apply(trainer, trainer.current_epoch + 1)

    def _start_batch_count(self, trainer: L.Trainer) -> None:
        dm = trainer.datamodule
        if dm is not None and hasattr(dm, "start_batch_count"):
            dm.start_batch_count(trainer.current_epoch)

    def on_train_epoch_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self._start_batch_count(trainer)
        module.log("data/augmentation_stage", float(self.stage(trainer.current_epoch)), on_step=False, on_epoch=True)


def _restart_train_iterator(trainer: L.Trainer, epoch: int) -> None:
    """Rebuild the first training iterator of a resumed run with the restored epoch.

    When a module's ``configure_optimizers`` asks for ``trainer.estimated_stepping_batches``
    (``PoseLitModule`` no longer does: it reads it at the first step), Lightning builds the train
    loader and its iterator before it restores the checkpoint's loops, and on resume it keeps that
    iterator for the first epoch: worker processes would already have drawn indices with the
    epoch-0 sampler order and crops with the epoch-0 augmentation seeds.

    The one private Lightning attribute left in the package: Lightning 2.x offers no public way to
    restart the fit loop's iterator (``fit_loop._data_fetcher``; read in 2.6.6). Without it (another
    version) nothing breaks for ``PoseLitModule``; other modules get the epoch-0 draws on resume.
    """
    loaders = trainer.train_dataloader
    for loader in loaders if isinstance(loaders, list | tuple) else [loaders]:
        batch_sampler = getattr(loader, "batch_sampler", None)
        for sampler in (getattr(loader, "sampler", None), getattr(batch_sampler, "sampler", None)):
            if callable(getattr(sampler, "set_epoch", None)):
                sampler.set_epoch(epoch)
    fetcher = getattr(trainer.fit_loop, "_data_fetcher", None)
    if fetcher is not None:
        iter(fetcher)  # persistent workers drop what they prefetched and start over
