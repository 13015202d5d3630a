"""The one error type of `hwnas.spaces`: a bad space file, a bad choice or an invalid Arch."""


class SpaceError(ValueError):
    """Raised for an invalid search-space spec or architecture; the message names the field
    (and the file, when the spec came from one). `field` is the spec field's path where the
    error is about one (`stages[1].width`)."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field
