"""Errors raised for bad input, so that every component fails with a clear message."""


class InputError(ValueError):
    """Bad input: a missing file, a wrong column, empty data or an out-of-range value.

    The message always names the file, column, parameter or threshold at fault.
    """


class ValidationFailed(RuntimeError):
    """Data validation found problems and the step was asked to fail on them."""
