"""Imports every command's schema module, so that each registers its schema (`configs.schema.register`)."""

import configs.schema.attentive_probe  # noqa: F401
import configs.schema.collect  # noqa: F401
import configs.schema.demo  # noqa: F401
import configs.schema.eval_ac  # noqa: F401
import configs.schema.extract  # noqa: F401
import configs.schema.landscape  # noqa: F401
import configs.schema.make_videos  # noqa: F401
import configs.schema.plan  # noqa: F401
import configs.schema.pretrain  # noqa: F401
import configs.schema.probe  # noqa: F401
import configs.schema.show_features  # noqa: F401
import configs.schema.show_masks  # noqa: F401
import configs.schema.state_probe  # noqa: F401
import configs.schema.train_ac  # noqa: F401
