"""A reproducible study of six autoencoders on MNIST, run as a DVC pipeline."""


class StudyError(Exception):
    """A bad input the user can fix: a wrong param, a missing or corrupt file.

    Stage scripts turn it into one ``error: ...`` line and a non-zero exit.
    """


class ConfigError(StudyError):
    """A param in params.yaml is missing, unknown, wrongly typed or out of range."""


class DataError(StudyError):
    """An input file is missing, corrupt or fails its checksum."""


class TrainingDiverged(StudyError):
    """The training loss became NaN or infinite; no model is saved."""
