"""Built-in plugin: the pipeline and trigger endpoints of the control service.

The routes live in :mod:`meshkit.service.routes.pipelines`; this plugin sits outside the ``routes``
package, whose shared parameters import FastAPI, so that loading the plugins imports none.
"""

from meshkit.core.hookspecs import hookimpl


@hookimpl
def register_routes(meshkit):
    from meshkit.service.routes.pipelines import build_router

    return [build_router()]
