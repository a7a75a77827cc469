"""``vdk.api.plugin.hook_markers``: the markers VDK plugins decorate their hooks with."""

import pluggy

#: The project name of VDK's hooks, and the entry-point group VDK plugins are declared in.
GROUP_NAME = "vdk.plugin.run"

hookspec = pluggy.HookspecMarker(GROUP_NAME)
hookimpl = pluggy.HookimplMarker(GROUP_NAME)
