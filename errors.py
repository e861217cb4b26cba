"""The one error type for bad user input (shapes, values, sizes, ids, files)."""


class InputError(ValueError):
    """Bad input from a user: the message is one plain sentence, shown as is by the CLI (exit 2)."""
