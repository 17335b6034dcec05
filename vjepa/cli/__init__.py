"""Console scripts: thin hydra mains (one per command, configured by `configs/`) over the library below."""
