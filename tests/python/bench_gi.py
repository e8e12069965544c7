"""What the pytest fixtures cost through GI (docs/performance.md): a Runner started
from Python, a reset as the per-test fixture does it (20 sandboxes and 140 journal
entries to clear, or nothing), and one query of a 140-entry journal.
Run with `meson test --benchmark -v`; nothing asserts on the figures."""
import statistics
import time

from mock_runner import Runner


def measure(n, func):
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        func()
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return times


def report(what, times):
    print(f"{what:<14} n={len(times):<5} min {times[0]:8.3f} ms   median {statistics.median(times):8.3f} ms"
          f"   p90 {times[int(len(times) * 0.9)]:8.3f} ms")


def main():
    t0 = time.perf_counter()
    first = Runner()
    first.start()
    report("first-start", [(time.perf_counter() - t0) * 1000])
    first.stop()

    def start_stop():
        runner = Runner()
        runner.start()
        runner.stop()

    def start_only():
        runner = Runner()
        t = time.perf_counter()
        runner.start()
        elapsed = time.perf_counter() - t
        runner.stop()
        return elapsed

    report("start", sorted(start_only() * 1000 for _ in range(50)))
    report("start+stop", measure(50, start_stop))

    with Runner() as runner:
        def fill():
            for i in range(20):
                runner.create_sandbox(f"bench-{i}")
            for i in range(100):
                runner.get("/")

        with_state = []
        for _ in range(20):
            fill()
            t = time.perf_counter()
            runner.reset()
            with_state.append((time.perf_counter() - t) * 1000)
        report("reset", sorted(with_state))
        report("reset-empty", measure(1000, runner.reset))
        fill()
        report("requests()", measure(100, runner.requests))


if __name__ == "__main__":
    main()
