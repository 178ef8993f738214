"""The trader SDK: what a trader is, the built-in families, and the plugin registry."""

__all__: list[str] = []
