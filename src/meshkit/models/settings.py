"""Configuration keys and materializations of the models layer (a built-in plugin)."""

from meshkit.core.hookspecs import hookimpl


@hookimpl
def configure(config):
    config.add(
        "models_column_lineage",
        True,
        "Compute column-level lineage of built models (cached by fingerprint).",
        type=bool,
    )
    config.add(
        "models_threads",
        0,
        "Threads for `meshkit build` (0: the profile's threads, else the number of cores).",
        type=int,
        bounds=(0, 1024),
    )


@hookimpl
def register_materializations():
    from meshkit.models.materialize import BUILTIN_MATERIALIZATIONS

    return BUILTIN_MATERIALIZATIONS
