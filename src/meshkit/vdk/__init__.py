"""VDK plugins, run unchanged.

A package that declares the ``vdk.plugin.run`` entry-point group (VDK's plugin guide) is loaded
into a plugin manager of its own, with VDK's hook specifications, and meshkit's job, connection and
ingestion hooks are relayed to it (:mod:`meshkit.vdk.runtime`). When VDK is not installed, the
``vdk.api.plugin`` modules and the few ``vdk.internal`` ones plugins import resolve to this
package (:mod:`meshkit.job.vdk_compat`).
"""
