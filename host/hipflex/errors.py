"""User-facing errors: the CLI prints ``str(err)`` on one line and exits 2."""


class UserError(Exception):
    """Bad input or a failed precondition the user can fix."""
