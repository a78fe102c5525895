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


class OutputWriteError(WsolError):
    """An output file could not be written (full disk, read-only mount, a file where a folder
    should be, ...); ``path`` is the file, ``cause`` the OSError."""

    def __init__(self, message: str, path: object, cause: OSError) -> None:
        super().__init__(message)
        self.path = path
        self.cause = cause


def user_message(err: WsolError) -> str:
    """The one-line-per-fact message to show for ``err``.

    A WsolError raised in a DataLoader worker comes back re-raised with the worker's traceback
    in its text ("Caught DataError in DataLoader worker process 0. Original Traceback ...");
    the user needs only the original message, its last line.
    """
    text = str(err).strip()
    if "Original Traceback" not in text:
        return text
    last = text.splitlines()[-1]
    kind, sep, message = last.partition(": ")
    return message if sep and kind.rsplit(".", 1)[-1] == type(err).__name__ else last
