"""The one error type the CLI reports: what is wrong and what to do, in one line."""

from __future__ import annotations

# Exit codes: 1 for a failed operation, 2 for bad input (as argparse and click use it).
FAILED = 1
BAD_INPUT = 2


class OperatorError(Exception):
    """A failure the operator can act on. The CLI prints the message alone, no traceback."""

    def __init__(self, message: str, *, exit_code: int = FAILED) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def bad_input(message: str) -> OperatorError:
    return OperatorError(message, exit_code=BAD_INPUT)
