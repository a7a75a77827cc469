"""A VDK plugin laid out as VDK's plugin guide shows, used by meshkit's tests."""

import setuptools

setuptools.setup(
    name="vdk-mkcheck",
    version="0.1.0",
    package_dir={"": "src"},
    packages=setuptools.find_namespace_packages(where="src"),
    package_data={"vdk.plugin.mkcheck": ["templates/*/*"]},
    entry_points={"vdk.plugin.run": ["vdk-mkcheck = vdk.plugin.mkcheck.mkcheck_plugin"]},
)
