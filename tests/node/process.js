// The official toolbox clients' ProcessApi against the runner's toolbox proxy:
// @daytonaio/toolbox-api-client 0.161.0 and @daytona/toolbox-api-client 0.218.0
// (executeCommand, codeRun, sessions). Prints one JSON line per step.
'use strict';

const { assert, createSandbox, toolboxConfiguration, emit, run } = require('./lib');

const OUT = '\x01\x01\x01';
const ERR = '\x02\x02\x02';

const clients = [
  { label: 'toolbox-0.161', pkg: require('@daytonaio/toolbox-api-client'), hasCodeRun: false },
  { label: 'toolbox-0.218', pkg: require('@daytona/toolbox-api-client'), hasCodeRun: true },
];

function version(v) {
  return { headers: { 'X-Daytona-SDK-Version': v } };
}

async function expectStatus(promise, status, message) {
  try {
    await promise;
  } catch (err) {
    assert.ok(err.response, `no response: ${err}`);
    assert.strictEqual(err.response.status, status, JSON.stringify(err.response.data));
    if (message !== undefined) assert.strictEqual(err.response.data.message, message);
    return err.response;
  }
  throw new Error(`expected HTTP ${status}`);
}

async function waitFinished(api, sid, cid) {
  for (let i = 0; i < 200; i++) {
    const { data } = await api.getSessionCommand(sid, cid);
    if (data.exitCode !== undefined) return data;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`command ${cid} did not finish`);
}

async function exercise({ label, pkg, hasCodeRun }, sandboxId) {
  const api = new pkg.ProcessApi(toolboxConfiguration(pkg, sandboxId));

  // executeCommand
  let r = await api.executeCommand({ command: 'echo hi', cwd: '/tmp', timeout: 5 });
  assert.strictEqual(r.status, 200);
  assert.deepStrictEqual(r.data, { exitCode: 0, result: 'hi\n' });
  r = await api.executeCommand({ command: 'pwd', cwd: '/' });
  assert.strictEqual(r.data.result, '/\n');
  r = await api.executeCommand({ command: "sh -c 'echo out; echo err >&2; exit 3'" });
  assert.deepStrictEqual(r.data, { exitCode: 3, result: 'out\nerr\n' });
  if (hasCodeRun) {
    r = await api.executeCommand({ command: 'echo "$GREETING, $WHO"', envs: { GREETING: 'hello', WHO: 'a b' } });
    assert.deepStrictEqual(r.data, { exitCode: 0, result: 'hello, a b\n' });
  }
  const timeout = await expectStatus(api.executeCommand({ command: 'sleep 20', timeout: 1 }), 408,
    'command execution timeout');
  assert.strictEqual(timeout.data.code, 'Request Timeout');
  await expectStatus(api.executeCommand({ command: '' }), 400, 'command is required');
  emit('execute', { client: label });

  if (hasCodeRun) {
    r = await api.codeRun({ code: 'import sys\nprint("py", sys.argv[1:])', language: 'python', argv: ['x'] });
    assert.deepStrictEqual(r.data, { exitCode: 0, result: "py ['x']\n" });
    r = await api.codeRun({ code: 'console.log(40 + 2)', language: 'javascript' });
    assert.deepStrictEqual(r.data, { exitCode: 0, result: '42\n' });
    await expectStatus(api.codeRun({ code: 'x', language: 'cobol' }), 400);
    emit('code-run', { client: label });
  }

  // sessions
  const sid = `s-${label}`;
  r = await api.createSession({ sessionId: sid });
  assert.strictEqual(r.status, 201);
  await expectStatus(api.createSession({ sessionId: sid }), 409, 'session already exists');
  r = await api.listSessions();
  assert.ok(r.data.some((s) => s.sessionId === sid));
  r = await api.getSession(sid);
  assert.deepStrictEqual(r.data, { sessionId: sid, commands: [] });

  // sync exec: the client sends no SDK version, so the output comes without markers...
  r = await api.sessionExecuteCommand(sid, { command: 'cd /tmp; echo hello; echo oops >&2', runAsync: false });
  assert.strictEqual(r.status, 200);
  assert.strictEqual(r.data.output, 'hello\noops\n');
  assert.strictEqual(r.data.exitCode, 0);
  assert.strictEqual(r.data.stdout, null);
  // ...with a version, the markers (and from 0.167.0 the server-side stdout/stderr)
  r = await api.sessionExecuteCommand(sid, { command: 'pwd; echo e >&2' }, version('0.161.0'));
  assert.strictEqual(r.data.output, `${OUT}/tmp\n${ERR}e\n`);
  r = await api.sessionExecuteCommand(sid, { command: 'pwd; echo e >&2' }, version('0.218.0'));
  assert.deepStrictEqual([r.data.output, r.data.stdout, r.data.stderr], [`${OUT}/tmp\n${ERR}e\n`, '/tmp\n', 'e\n']);
  emit('session-exec-sync', { client: label });

  // async exec, command status, logs
  r = await api.sessionExecuteCommand(sid, { command: 'sleep 0.3; echo later; exit_code_test() { return 4; }; exit_code_test', runAsync: true });
  assert.strictEqual(r.status, 202);
  const cid = r.data.cmdId;
  assert.strictEqual(r.data.exitCode, null);
  r = await api.getSessionCommand(sid, cid);
  assert.strictEqual(r.data.id, cid);
  assert.strictEqual(r.data.exitCode, undefined);
  // follow=true over plain HTTP: the runner streams the log until the command ends
  r = await api.getSessionCommandLogs(sid, cid, true);
  assert.strictEqual(r.data, 'later\n');
  const finished = await waitFinished(api, sid, cid);
  assert.strictEqual(finished.exitCode, 4);
  r = await api.getSessionCommandLogs(sid, cid, undefined, version('0.161.0'));
  assert.strictEqual(r.data, `${OUT}later\n`);
  r = await api.getSessionCommandLogs(sid, cid, undefined, version('0.218.0'));
  assert.deepStrictEqual(r.data, { output: `${OUT}later\n`, stdout: 'later\n', stderr: '' });
  r = await api.getSession(sid);
  assert.strictEqual(r.data.commands.length, 4);
  assert.ok(r.data.commands.every((c) => typeof c.exitCode === 'number'));
  emit('session-exec-async', { client: label });

  // input to an async command
  r = await api.sessionExecuteCommand(sid, { command: 'read line; echo "got $line"', runAsync: true });
  const icid = r.data.cmdId;
  r = await api.sendInput(sid, icid, { data: 'ping' });
  assert.strictEqual(r.status, 204);
  await waitFinished(api, sid, icid);
  r = await api.getSessionCommandLogs(sid, icid, undefined, version('0.161.0'));
  assert.strictEqual(r.data, `${OUT}ping\n${OUT}got ping\n`);
  await expectStatus(api.sendInput(sid, icid, { data: 'late' }), 410);
  emit('session-input', { client: label });

  r = await api.deleteSession(sid);
  assert.strictEqual(r.status, 204);
  await expectStatus(api.getSession(sid), 404, 'session not found');
  await expectStatus(api.deleteSession(sid), 404, 'session not found');
  emit('session-delete', { client: label });
}

run(async () => {
  for (const client of clients) {
    const sandboxId = await createSandbox(`sbx-proc-${client.label.replace(/[^a-z0-9]/g, '')}`);
    await exercise(client, sandboxId);
  }
  emit('done');
});
