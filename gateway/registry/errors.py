"""Registry errors. All are the caller's fault (bad input), so the CLI exits 2 and HTTP answers 4xx.

    RegistryError
    ├── InvalidRegistryInput   a value breaks a rule (unknown type, end before start, bad id)
    ├── DuplicateError         the id is taken
    └── NotFoundError          a referenced org or client does not exist

Messages name ids and rules; registry ids are operator-chosen codes, never personal data.
"""


class RegistryError(Exception):
    """Base of every registry error."""


class InvalidRegistryInput(RegistryError):
    """A value breaks a registry rule."""


class DuplicateError(RegistryError):
    """The id is already registered."""


class NotFoundError(RegistryError):
    """A referenced record does not exist."""
