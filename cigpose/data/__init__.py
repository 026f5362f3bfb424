"""Top-down data: keypoint metadata, COCO-format datasets, transforms, the LightningDataModule."""
