"""The one error a bad config raises: one line naming the key, the value and what is allowed."""


class ConfigError(ValueError):
    """A config value that cannot work.

    Args:
        key: dotted config key, e.g. ``data.max_length``.
        value: the offending value.
        allowed: what would be accepted, in words.
    """

    def __init__(self, key: str, value: object, allowed: str):
        self.key, self.value, self.allowed = key, value, allowed
        super().__init__(f"invalid config: {key}={value!r}; allowed: {allowed}")


class DataError(ValueError):
    """Bad input data: names the file (or source) and the problem."""

    def __init__(self, source: str, problem: str):
        self.source, self.problem = str(source), problem
        super().__init__(f"bad data in {source}: {problem}")


class ModelLoadError(RuntimeError):
    """A model or tokenizer that cannot be loaded (e.g. a hub id while offline)."""
