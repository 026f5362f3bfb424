"""Training order that depends only on (seed, epoch), so a resumed run replays the same batches."""

from __future__ import annotations

from collections.abc import Iterator, Sized

import numpy as np
from torch.utils.data import RandomSampler


class EpochShuffleSampler(RandomSampler):
    """A permutation of ``range(len(data_source))`` drawn from ``(seed, epoch)``.

    Lightning calls ``set_epoch`` before each training epoch. It subclasses ``RandomSampler`` so
    that under DDP Lightning swaps it for a ``DistributedSampler`` (shuffled, seeded by the global
    seed, also per epoch), exactly as it does for ``shuffle=True``.
    """

    def __init__(self, data_source: Sized, seed: int = 0):
        super().__init__(data_source)
        self.seed = int(seed)
        self.epoch = 0
        self.skip_epoch, self.skip = -1, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def resume_at(self, epoch: int, samples: int) -> None:
        """Leave out the first ``samples`` indices of epoch ``epoch``'s order: the batches that a
        run stopped mid-epoch (pre-emption) already trained on. ``__len__`` stays the full epoch
        (Lightning counts the batches done from the checkpoint's loop state)."""
        self.skip_epoch, self.skip = int(epoch), int(samples)

    def __iter__(self) -> Iterator[int]:
        order = np.random.default_rng((self.seed, self.epoch)).permutation(len(self.data_source))
        if self.epoch == self.skip_epoch:
            order = order[self.skip :]
        return iter(order.tolist())

    def __len__(self) -> int:
        return len(self.data_source)
