"""User-facing error types.

Anything a user can cause (a missing data root, an unknown backbone, a bad threshold) raises a
subclass of :class:`WsolError` whose message names the file or config key and the fix. The entry
point prints such messages without a traceback and exits non-zero.
"""


class WsolError(Exception):
    """An error caused by the user's input or environment, with a message that says the fix."""


class DataError(WsolError):
    """A dataset file or directory is missing, unreadable or malformed."""


class ConfigError(WsolError):
    """A configuration value is unknown or out of range."""


class WeightsError(WsolError):
    """Pretrained weights or a checkpoint are missing or do not fit the model."""
