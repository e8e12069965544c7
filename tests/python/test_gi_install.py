"""The installed layout: meson installs the package for Debian's python3 with a pytest11
entry point, so that an installed copy provides its fixtures without -p."""
import glob
import os
import re
import subprocess
import sys
import textwrap

EXAMPLE = textwrap.dedent("""
    import mock_runner

    def test_fixture_from_the_entry_point(mock_runner, sandbox_factory):
        sandbox_factory("installed-1")
        assert mock_runner.sandbox_state("installed-1") == "started"

    def test_package_is_the_installed_one():
        assert mock_runner.__file__.startswith({root!r}), mock_runner.__file__
""")


def test_installed_package_loads_its_pytest_plugin(tmp_path):
    build = os.environ["MOCK_RUNNER_BUILD_DIR"]
    root = tmp_path / "root"
    subprocess.run(["meson", "install", "-C", build, "--no-rebuild", "--quiet", "--destdir", str(root)],
                   check=True, capture_output=True, timeout=300)
    (init,) = glob.glob(str(root / "**" / "mock_runner" / "__init__.py"), recursive=True)
    site = os.path.dirname(os.path.dirname(init))
    assert glob.glob(os.path.join(site, "mock_runner-*.dist-info", "entry_points.txt"))
    # installed where this interpreter looks without PYTHONPATH (meson's own guess for
    # Debian, <prefix>/lib/python3/dist-packages, is not searched for /usr/local)
    assert "/" + os.path.relpath(site, root) in sys.path, (site, sys.path)
    (typelib,) = glob.glob(str(root / "**" / "MockRunner-1.0.typelib"), recursive=True)
    (library,) = glob.glob(str(root / "**" / "libmockrunner-1.so.0"), recursive=True)
    (plugin,) = glob.glob(str(root / "**" / "plugins" / "sandbox-memory.so"), recursive=True)

    test_file = tmp_path / "test_installed.py"
    test_file.write_text(EXAMPLE.format(root=str(root)))
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "GI_TYPELIB_PATH", "LD_LIBRARY_PATH", "MOCK_RUNNER_PLUGIN_PATH")}
    env.update(PYTHONPATH=site, GI_TYPELIB_PATH=os.path.dirname(typelib),
               LD_LIBRARY_PATH=os.path.dirname(library), MOCK_RUNNER_PLUGIN_PATH=os.path.dirname(plugin))
    # no -p: the entry point loads the plugin
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(test_file)],
                            capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout

    # the complete example of docs/python.md, as a user copies it, with the installed copy
    docs = os.path.join(os.environ["MOCK_RUNNER_SOURCE_DIR"], "docs", "python.md")
    with open(docs) as f:
        section = f.read().split("## A complete example", 1)[1]
    example = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    (tmp_path / "test_my_client.py").write_text(example)
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             str(tmp_path / "test_my_client.py")],
                            capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "%d passed" % len(re.findall(r"^def test_", example, re.M)) in result.stdout

    # and -p on top of the entry point does not register it twice
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             "-p", "mock_runner.pytest_plugin", str(test_file)],
                            capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stdout + result.stderr


def test_default_build_needs_no_npm_registry():
    # `meson install` and a plain `ninja` build `all`; the README's first command must
    # build and install without the npm registry. Meson before 1.7 puts every test
    # dependency into `all`, so the npm install must not be one there.
    build = os.environ["MOCK_RUNNER_BUILD_DIR"]
    commands = subprocess.run(["ninja", "-C", build, "-t", "commands", "all"], check=True,
                              capture_output=True, text=True, timeout=60).stdout.splitlines()
    assert [c for c in commands if "-o src/mock-runner " in c]
    assert not [c for c in commands if "install-clients.sh" in c]


def test_plugin_walkthrough_of_the_docs_builds_against_the_installed_library(tmp_path):
    # docs/plugins.md "Start from the skeleton", as written, with the install in a destdir
    # (so its prefix is moved: the .pc file's prefix and the paths in the commands)
    build = os.environ["MOCK_RUNNER_BUILD_DIR"]
    root = tmp_path / "root"
    subprocess.run(["meson", "install", "-C", build, "--no-rebuild", "--quiet", "--destdir", str(root)],
                   check=True, capture_output=True, timeout=300)
    (pc,) = glob.glob(str(root / "**" / "pkgconfig" / "mock-runner-1.0.pc"), recursive=True)
    with open(pc) as f:
        text = f.read()
    prefix = re.search(r"^prefix=(.*)$", text, re.M).group(1)
    moved = str(root) + prefix
    (tmp_path / "pc").mkdir()
    (tmp_path / "pc" / "mock-runner-1.0.pc").write_text(text.replace("prefix=" + prefix, "prefix=" + moved, 1))
    (library,) = glob.glob(str(root / "**" / "libmockrunner-1.so.0"), recursive=True)
    (plugin,) = glob.glob(str(root / "**" / "plugins" / "sandbox-memory.so"), recursive=True)

    docs = os.path.join(os.environ["MOCK_RUNNER_SOURCE_DIR"], "docs", "plugins.md")
    with open(docs) as f:
        section = f.read().split("## Start from the skeleton", 1)[1]
    lines = re.search(r"```sh\n(.*?)```", section, re.S).group(1).replace("/usr/local", moved).splitlines()
    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("MOCK_RUNNER_PLUGIN_PATH", "GI_TYPELIB_PATH")}
    env.update(PKG_CONFIG_PATH=str(tmp_path / "pc"), PATH=moved + "/bin:" + os.environ["PATH"],
               LD_LIBRARY_PATH=os.path.dirname(library), API_PORT="0")
    build_steps = subprocess.run(["sh", "-ec", "\n".join(lines[:-1])], cwd=work, env=env,
                                 capture_output=True, text=True, timeout=120)
    assert build_steps.returncode == 0, build_steps.stderr
    # the moved install's plugin directory is not the one built in: search it too
    run = lines[-1].replace("MOCK_RUNNER_PLUGIN_PATH=$PWD", "MOCK_RUNNER_PLUGIN_PATH=$PWD:" + os.path.dirname(plugin))
    assert run != lines[-1]
    proc = subprocess.Popen(["sh", "-c", "exec env " + run], cwd=work, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ready = proc.stdout.readline()
        assert "(sandbox=sandbox-foo " in ready, ready + proc.stderr.read()
    finally:
        proc.terminate()
        proc.wait(10)
