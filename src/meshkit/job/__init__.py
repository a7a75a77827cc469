"""The data job runtime.

``meshkit.job`` is this package and also the standalone entry point
``with meshkit.job("jobs/x") as job_input: ...``: importing the package would otherwise replace the
function of that name on ``meshkit``, so the package module itself is made callable.
"""

import sys
import types


class _CallableModule(types.ModuleType):
    def __call__(self, path, *args, **kwargs):
        """``meshkit.job(path, arguments=None, workspace=None, **config)``: see ``standalone_job``."""
        from meshkit.job.standalone import standalone_job

        return standalone_job(path, *args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
