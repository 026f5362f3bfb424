"""Training: the LightningModule that wires the parts, optimiser/schedule, EMA, callbacks."""
