"""Imports every command's schema module, so that each registers its schema (`configs.schema.register`)."""

import configs.schema.collect  # noqa: F401
import configs.schema.demo  # noqa: F401
import configs.schema.landscape  # noqa: F401
import configs.schema.plan  # noqa: F401
import configs.schema.state_probe  # noqa: F401
