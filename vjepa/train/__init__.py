"""Training: the JEPA module and its objectives, EMA, schedules, master weights, DDP, diagnostics, metrics, the
shared step tail, and the two training loops (V-JEPA pretraining, the action-conditioned world model)."""
