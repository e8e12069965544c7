"""Loads the MockRunner typelib through PyGObject.

In the source tree the test environment points GI_TYPELIB_PATH and LD_LIBRARY_PATH at
the build directory. An installed package also knows where meson installed the typelib
(_paths.py, generated at install time), which may not be on GObject Introspection's
default search path (e.g. under /usr/local).
"""
import gi

try:
    from . import _paths
except ImportError:  # the source tree: the environment says where the build is
    _paths = None


def _require():
    try:
        gi.require_version("MockRunner", "1.0")
        return
    except ValueError:
        if _paths is None:
            raise
    gi.require_version("GIRepository", "2.0")
    from gi.repository import GIRepository  # noqa: E402  (only needed in this case)

    GIRepository.Repository.prepend_search_path(_paths.TYPELIB_DIR)
    GIRepository.Repository.prepend_library_path(_paths.LIB_DIR)
    gi.require_version("MockRunner", "1.0")


_require()

from gi.repository import GLib, MockRunner  # noqa: E402

__all__ = ["GLib", "MockRunner"]
