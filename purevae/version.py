"""The version of purevae, in one place: ``purevae.__version__`` and the model files' metadata read it here."""
__version__ = "0.1.0"
