"""One exception type for mistakes a user can fix.

Command-line scripts catch :class:`UserInputError` and print its message as one paragraph, with no
traceback, and exit non-zero. Library code raises it whenever the cause is the user's input (a file, a
row, a parameter), and says what was expected.
"""

from __future__ import annotations


class UserInputError(ValueError):
    """A problem with the user's input, explained in one readable paragraph."""

    def __init__(self, message: str):
        super().__init__(" ".join(message.split()))
