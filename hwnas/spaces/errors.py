"""The one error type of `hwnas.spaces`: a bad space file, a bad choice or an invalid Arch."""


class SpaceError(ValueError):
    """Raised for an invalid search-space spec or architecture; the message names the field
    (and the file, when the spec came from one)."""
