"""The control service: REST API, scheduler, executors, auth, metrics and web UI (``meshkit server``).

Build the app with :func:`meshkit.service.app.create_app`; the modules importing FastAPI load only
then, so the command line starts fast without the ``service`` extra.
"""
