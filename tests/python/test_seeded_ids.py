"""One seed, the same answers: ids the toolbox generates follow the runner's seed."""


def ids_of_a_run(make_runner, seed):
    r = make_runner(env={"MOCK_RUNNER_SEED": str(seed)})
    r.create_sandbox("seeded")
    base = "/sandboxes/seeded/toolbox"
    assert r.post(f"{base}/process/session", {"sessionId": "s"}).status == 201
    cmd = r.post(f"{base}/process/session/s/exec", {"command": "true", "runAsync": False}).json()["cmdId"]
    ctx = r.post(f"{base}/process/interpreter/context", {}).json()["id"]
    r.stop()
    return cmd, ctx


def test_same_seed_same_ids(make_runner):
    first = ids_of_a_run(make_runner, 42)
    assert ids_of_a_run(make_runner, 42) == first
    assert ids_of_a_run(make_runner, 43) != first
