"""User-facing errors: the CLI prints their message on one line and exits non-zero."""


class TreediffError(Exception):
    """A problem with the user's input (file, program, grammar, checkpoint, flag).

    The CLI catches these and prints ``treediff: <message>`` with exit code 2, so the
    message must stand on its own: say what was wrong and, where possible, what to do.
    """

    exit_code = 2
