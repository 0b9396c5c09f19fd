"""The library's error for a wrong option, file or folder given by a user."""


class UsageError(ValueError):
    """A wrong model name, size, file or folder; the message says what to change.

    The ``i2ilab`` command prints it as ``i2ilab: error: <message>`` and exits with status 2.
    """
