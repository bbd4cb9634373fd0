"""Errors that the command line reports as one line on stderr, each with its exit code."""


class LatentEditError(Exception):
    """A user-facing error: the message is complete and says how to fix the problem."""

    exit_code = 1


class UsageError(LatentEditError, ValueError):
    """Bad arguments or bad input data. Also a ``ValueError``: the method code raises it naming its own parameters."""

    exit_code = 2


class WeightsError(LatentEditError):
    """Model weights are missing, corrupted or of the wrong format."""

    exit_code = 3


class NoFaceError(LatentEditError):
    """No face was found where one was needed (a photo to edit or invert, or every image given to ``detect``)."""

    exit_code = 4
