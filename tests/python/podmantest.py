"""Podman's Docker-compatible Engine API for the docker toolbox backend tests.

    engine = PodmanEngine.start()      # raises PodmanUnavailable if podman cannot run here
    engine.docker_host                 # unix:///.../podman.sock
    engine.import_image(tag)           # a small image made from host programs
    engine.stop()

Everything lives in one temporary directory: podman's storage (vfs, so no overlay or
fuse is needed), its run state, the API socket and the image's root file system. The
image holds a few host programs (a shell, coreutils) with their libraries, and nothing of
mock-runner's: the backend must bring the toolbox daemon's libraries itself.
"""
import json
import os
import shutil
import socket
import subprocess
import tarfile
import tempfile
import time
import http.client

# What the image needs for the toolbox areas the tests use: a shell for sessions and
# PTYs, coreutils for commands, sleep for the container's idle command, and git (with the
# pack programs of local clones and pushes) for the official clients' GitApi.
PROGRAMS = ["sh", "bash", "sleep", "cat", "ls", "echo", "mkdir", "rm", "env", "pwd", "true", "false", "id",
            "uname", "head", "tail", "wc", "printf", "stty", "touch", "chmod", "cp", "mv", "date", "tee", "sort",
            "dirname", "basename", "test", "grep", "sed", "tr", "seq", "stat", "readlink", "whoami", "kill",
            "base64", "ps", "git", "git-upload-pack", "git-receive-pack"]


class PodmanUnavailable(Exception):
    pass


def _ldd(path):
    out = subprocess.run(["ldd", path], capture_output=True, text=True).stdout
    libs = []
    for line in out.splitlines():
        line = line.strip()
        if "=>" in line:
            target = line.split("=>", 1)[1].strip().split(" (")[0]
            if target.startswith("/"):
                libs.append(target)
        elif line.startswith("/"):
            libs.append(line.split(" (")[0])
    return libs


def build_rootfs_tar(dest):
    """Writes a root file system tarball made of host programs to `dest`."""
    files = set()
    for name in PROGRAMS:
        path = shutil.which(name)
        if path is None:
            continue
        files.add(path)
        files.update(os.path.realpath(lib) for lib in _ldd(path))
        for lib in _ldd(path):
            files.add(lib)          # as the program names it too (e.g. /lib64/ld-linux...)
    with tarfile.open(dest, "w") as tar:
        def add_dir(name, mode=0o755):
            info = tarfile.TarInfo(name)
            info.type = tarfile.DIRTYPE
            info.mode = mode
            tar.addfile(info)

        def add_text(name, text, mode=0o644):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = mode
            import io
            tar.addfile(info, io.BytesIO(data))

        for d in ["usr", "usr/bin", "usr/lib", "usr/lib64", "usr/sbin", "etc", "root", "home", "dev", "proc",
                  "sys", "run", "var", "var/tmp"]:
            add_dir(d)
        add_dir("tmp", 0o1777)
        # merged /usr, as on the host
        for top in ["bin", "lib", "lib64", "sbin"]:
            info = tarfile.TarInfo(top)
            info.type = tarfile.SYMTYPE
            info.linkname = "usr/" + top
            tar.addfile(info)
        def arcname(path):
            rel = path.lstrip("/")
            for top in ["bin/", "lib/", "lib64/", "sbin/"]:
                if rel.startswith(top):
                    rel = "usr/" + rel
            return rel

        entries = {}
        for path in files:
            entries.setdefault(arcname(path), path)
            entries.setdefault(arcname(os.path.realpath(path)), os.path.realpath(path))
        seen_dirs = {"usr", "usr/bin", "usr/lib", "usr/lib64", "usr/sbin"}
        for rel in sorted(entries):
            parts = os.path.dirname(rel).split("/")
            for i in range(1, len(parts) + 1):
                d = "/".join(parts[:i])
                if d and d not in seen_dirs:
                    seen_dirs.add(d)
                    add_dir(d)
            source = entries[rel]
            if os.path.islink(source):
                info = tarfile.TarInfo(rel)
                info.type = tarfile.SYMTYPE
                info.linkname = os.readlink(source)
                tar.addfile(info)
            else:
                tar.add(source, arcname=rel, recursive=False)
        add_text("etc/passwd", "root:x:0:0:root:/root:/bin/bash\n"
                               "daytona:x:1000:1000:daytona:/home/daytona:/bin/bash\n")
        add_text("etc/group", "root:x:0:\ndaytona:x:1000:\n")
        add_text("etc/hostname", "mock-runner-toolbox\n")


class PodmanEngine:
    def __init__(self, tmp):
        self.tmp = tmp
        self.socket_path = os.path.join(tmp, "podman.sock")
        self.docker_host = "unix://" + self.socket_path
        self.proc = None
        self.log = None

    def podman(self, *args, check=True, timeout=120):
        cmd = ["podman", "--root", os.path.join(self.tmp, "root"), "--runroot", os.path.join(self.tmp, "run"),
               "--storage-driver", "vfs", "--runtime", "runc", "--cgroup-manager", "cgroupfs"] + list(args)
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if check and p.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)}: rc={p.returncode}: {p.stderr.strip()}")
        return p

    @classmethod
    def start(cls):
        if shutil.which("podman") is None:
            raise PodmanUnavailable("podman is not installed (apt-get install podman runc)")
        if shutil.which("runc") is None:
            raise PodmanUnavailable("runc is not installed (apt-get install runc)")
        if os.geteuid() != 0:
            raise PodmanUnavailable("these tests run podman as root")
        engine = cls(tempfile.mkdtemp(prefix="mr-podman-"))
        try:
            engine._start_service()
        except Exception:
            engine.stop()
            raise
        return engine

    def _start_service(self):
        # containers.conf for the service: cgroupfs (no systemd here)
        conf = os.path.join(self.tmp, "containers.conf")
        with open(conf, "w") as f:
            f.write('[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n')
        env = dict(os.environ, CONTAINERS_CONF=conf)
        self.log = open(os.path.join(self.tmp, "service.log"), "w")
        cmd = ["podman", "--root", os.path.join(self.tmp, "root"), "--runroot", os.path.join(self.tmp, "run"),
               "--storage-driver", "vfs", "--runtime", "runc", "--cgroup-manager", "cgroupfs",
               "system", "service", "--time", "0", self.docker_host]
        self.proc = subprocess.Popen(cmd, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise PodmanUnavailable(f"podman system service exited with {self.proc.returncode}: {self.service_log()}")
            if os.path.exists(self.socket_path):
                try:
                    status, _ = self.api("GET", "/_ping")
                    if status == 200:
                        return
                except OSError:
                    pass
            time.sleep(0.1)
        raise PodmanUnavailable(f"podman system service did not answer: {self.service_log()}")

    def serve_tcp(self):
        """A second API service of the same storage on tcp://127.0.0.1:<free port> (DOCKER_HOST=tcp://);
        returns that DOCKER_HOST. Stopped with the engine."""
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        env = dict(os.environ, CONTAINERS_CONF=os.path.join(self.tmp, "containers.conf"))
        cmd = ["podman", "--root", os.path.join(self.tmp, "root"), "--runroot", os.path.join(self.tmp, "run"),
               "--storage-driver", "vfs", "--runtime", "runc", "--cgroup-manager", "cgroupfs",
               "system", "service", "--time", "0", f"tcp://127.0.0.1:{port}"]
        self.tcp_proc = subprocess.Popen(cmd, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.tcp_proc.poll() is not None:
                raise RuntimeError(f"podman system service on tcp exited: {self.service_log()}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/_ping")
                if conn.getresponse().status == 200:
                    return f"tcp://127.0.0.1:{port}"
            except OSError:
                time.sleep(0.1)
            finally:
                conn.close()
        raise RuntimeError("podman system service on tcp did not answer")

    def _kill_leftovers(self):
        """conmon monitors of exec sessions linger after their container is gone: every
        process started for this engine names its temporary directory."""
        import signal
        for pid in _processes_mentioning(self.tmp):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass

    def service_log(self):
        try:
            with open(os.path.join(self.tmp, "service.log")) as f:
                return f.read()[-2000:]
        except OSError:
            return ""

    def api(self, method, path, body=None, timeout=60):
        """One Engine API call on the socket; returns (status, parsed JSON or bytes)."""
        conn = _UnixHTTPConnection(self.socket_path, timeout=timeout)
        try:
            data = json.dumps(body).encode() if body is not None else None
            headers = {"Content-Type": "application/json"} if data is not None else {}
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
            try:
                return resp.status, json.loads(raw) if raw else None
            except ValueError:
                return resp.status, raw
        finally:
            conn.close()

    def exec_output(self, name, argv, timeout=60):
        """Runs argv in the container; returns (exit code, stdout + stderr as bytes)."""
        status, created = self.api("POST", f"/v1.41/containers/{name}/exec",
                                   {"Cmd": argv, "AttachStdout": True, "AttachStderr": True, "Tty": False})
        if status != 201:
            raise RuntimeError(f"exec create: {status} {created}")
        conn = _UnixHTTPConnection(self.socket_path, timeout=timeout)
        try:
            conn.request("POST", f"/v1.41/exec/{created['Id']}/start",
                         body=json.dumps({"Detach": False, "Tty": False}).encode(),
                         headers={"Content-Type": "application/json"})
            raw = conn.getresponse().read()
        finally:
            conn.close()
        # the multiplexed stream: 8-byte headers (stream, 0, 0, 0, big-endian size)
        out, i = b"", 0
        while i + 8 <= len(raw):
            size = int.from_bytes(raw[i + 4:i + 8], "big")
            out += raw[i + 8:i + 8 + size]
            i += 8 + size
        code = self.api("GET", f"/v1.41/exec/{created['Id']}/json")[1].get("ExitCode")
        return code, out

    def import_image(self, tag):
        tarball = os.path.join(self.tmp, "rootfs.tar")
        build_rootfs_tar(tarball)
        self.podman("import", tarball, tag)
        return tag

    def container(self, name):
        status, body = self.api("GET", f"/v1.41/containers/{name}/json")
        return body if status == 200 else None

    def remove_container(self, name):
        return self.api("DELETE", f"/v1.41/containers/{name}?force=true")[0]

    def stop_container(self, name):
        return self.api("POST", f"/v1.41/containers/{name}/stop?t=1")[0]

    def stop(self):
        try:
            tcp = getattr(self, "tcp_proc", None)
            if tcp and tcp.poll() is None:
                tcp.terminate()
                try:
                    tcp.wait(15)
                except subprocess.TimeoutExpired:
                    tcp.kill()
                    tcp.wait()
            if self.proc and self.proc.poll() is None:
                try:
                    for c in self.api("GET", "/v1.41/containers/json?all=true")[1] or []:
                        self.remove_container(c["Id"])
                except Exception:
                    pass
                self.proc.terminate()
                try:
                    self.proc.wait(15)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            # containers of this storage that survived the service
            try:
                self.podman("rm", "-af", check=False, timeout=60)
            except Exception:
                pass
            self._kill_leftovers()
        finally:
            if self.log:
                self.log.close()
            shutil.rmtree(self.tmp, ignore_errors=True)


def engine_with_image(image):
    """For a module fixture (`yield from`): a started engine holding `image`, stopped at
    the end. Where podman cannot run at all the whole test file ends as skipped (77)."""
    import pytest
    try:
        engine = PodmanEngine.start()
    except PodmanUnavailable as why:
        pytest.exit(f"podman cannot run here: {why}", returncode=77)
    try:
        engine.import_image(image)
        yield engine
    finally:
        engine.stop()


def _processes_mentioning(text):
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                if text.encode() in f.read():
                    pids.append(int(entry))
        except OSError:
            pass
    return pids


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=60):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)
