"""V-JEPA in PyTorch: self-supervised video pretraining and action-conditioned world models.

Where things live:

    vjepa.models      VisionTransformer (tubelet ViT), MaskPredictor, ActionConditionedPredictor, positions, poses,
                      `official` (V-JEPA 2's released weights)
    vjepa.masks       3D multi-block masks (images: the single-frame case), the collator, mask pictures
    vjepa.data        decoders, video / image folders, transforms, seeded sampler, robot episodes, LeRobot
    vjepa.train       JEPA objective, EMA, schedules, checkpoints, DDP, the pretraining and AC-training loops
    vjepa.eval        ridge and attentive probes, the world model's k-step evaluation
    vjepa.cli         command-line mains (vjepa-pretrain, vjepa-extract, vjepa-show-masks, vjepa-show-features, ...)
    vjepa.inference   load_encoder / load_predictor (ours or released), encode
    vjepa.world_model a trained encoder + AC predictor behind the planners' interface (`planning`)
"""
