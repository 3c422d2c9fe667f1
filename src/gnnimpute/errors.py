"""One exception type for problems the user can fix; the CLI prints it as one line."""


class InputError(ValueError):
    """Bad input or an unsafe output request (one clear line, non-zero exit)."""


class DivergenceError(RuntimeError):
    """Training produced a non-finite loss or output: a broken result is never written."""
