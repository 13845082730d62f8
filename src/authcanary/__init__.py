"""authcanary: migration and compliance test harness for AEC authentication and token APIs."""

__version__ = "0.1.0"
