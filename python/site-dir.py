"""Prints where a package installed under PREFIX is importable by this interpreter.

meson's guess for Debian's python is <prefix>/lib/python3/dist-packages, which Debian's
/usr/bin/python3 only searches for prefix /usr; for /usr/local it searches
/usr/local/lib/python3.X/dist-packages. So take the directory on sys.path that lies under
the prefix; print nothing if there is none (meson's own guess is then used)."""
import os
import sys

prefix = os.path.normpath(sys.argv[1])
for path in sys.path:
    if path.startswith(os.path.join(prefix, "lib", "")) and path.endswith(("dist-packages", "site-packages")):
        print(path)
        break
