"""Imports every command's schema module, so that each registers its schema (`configs.schema.register`)."""
