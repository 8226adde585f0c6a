"""flitstack: migrate a dental practice from My Dental Clinic (MDC) into Pipedrive.

The package is a library first; the ``flitstack`` command is a thin shell over it.
Data flows one way: source → audit → map → validate/transform → plan → load → verify → report,
with the state store beside it.
"""

__version__ = "0.1.0"
