// PTY sessions and the code interpreter through the official clients, straight against the
// runner's toolbox proxy:
//  - the ProcessApi and InterpreterApi of both toolbox clients (0.161 and 0.218) for the
//    REST calls, with the `ws` package for the WebSockets they do not wrap;
//  - the SDKs' own Process (0.218: createPty = /process/pty/create-connect with the
//    exit-control subprotocol; 0.161: createPty = POST lazyStart + connect), PtyHandle and
//    CodeInterpreter (runCode), built on a toolbox client configuration: they only need a
//    basePath and headers, no control plane.
'use strict';

const path = require('path');
const WebSocket = require('ws');
const { assert, createSandbox, toolboxConfiguration, emit, run } = require('./lib.js');

const clients = {
  'toolbox-0.161': require('@daytonaio/toolbox-api-client'),
  'toolbox-0.218': require('@daytona/toolbox-api-client'),
};
const sdk = require('@daytonaio/sdk');
// not exported by the package: load it next to the SDK's entry point
const { CodeInterpreter } = require(path.join(path.dirname(require.resolve('@daytonaio/sdk')), 'CodeInterpreter.js'));
const sdk0161 = require('sdk0161');
const CodeInterpreter0161 = require('sdk0161/src/CodeInterpreter').CodeInterpreter;

const wsBase = (cfg) => cfg.basePath.replace(/^http/, 'ws');

// A WebSocket with its messages collected; waitFor() resolves once a predicate holds.
function openSocket(url, headers, protocols) {
  const ws = new WebSocket(url, protocols || [], { headers });
  const state = { ws, messages: [], output: '', waiters: [] };
  const check = () => {
    state.waiters = state.waiters.filter((w) => {
      if (!w.pred(state)) return true;
      clearTimeout(w.timer);
      w.resolve();
      return false;
    });
  };
  ws.on('message', (data, isBinary) => {
    state.messages.push({ binary: isBinary, text: data.toString() });
    if (isBinary) state.output += data.toString();
    check();
  });
  state.closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  state.opened = new Promise((resolve, reject) => { ws.on('open', resolve); ws.on('error', reject); });
  state.waitFor = (pred, what) => new Promise((resolve, reject) => {
    const w = { pred, resolve };
    w.timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}: ${state.output.slice(-300)}`)), 20000);
    state.waiters.push(w);
    check();
  });
  return state;
}

async function expectStatus(promise, status) {
  try {
    await promise;
  } catch (err) {
    assert.strictEqual(err.response && err.response.status, status, String(err));
    return err.response.data;
  }
  throw new Error(`expected HTTP ${status}`);
}

async function toolboxClient(name, pkg, sandboxId) {
  const cfg = toolboxConfiguration(pkg, sandboxId);
  const headers = cfg.baseOptions.headers;
  const processApi = new pkg.ProcessApi(cfg);
  const interpreterApi = new pkg.InterpreterApi(cfg);
  const id = `pty-${name}`;

  let r = await processApi.createPtySession({ id, cols: 100, rows: 30, lazyStart: true, envs: { PTY_VAR: 'v' } });
  assert.strictEqual(r.status, 201);
  assert.deepStrictEqual(r.data, { sessionId: id });
  r = await processApi.listPtySessions();
  const listed = r.data.sessions.find((s) => s.id === id);
  assert.ok(listed, JSON.stringify(r.data));
  assert.strictEqual(listed.lazyStart, true);
  assert.strictEqual(listed.active, false);
  r = await processApi.getPtySession(id);
  assert.strictEqual(r.data.envs.PTY_VAR, 'v');
  assert.strictEqual(r.data.envs.TERM, 'xterm-256color');
  emit(`${name}-pty-rest`, { cols: r.data.cols, rows: r.data.rows, active: r.data.active });

  const sock = openSocket(`${wsBase(cfg)}/process/pty/${id}/connect`, headers);
  await sock.opened;
  await sock.waitFor((s) => s.messages.length > 0, 'the control message');
  assert.deepStrictEqual(sock.messages[0], { binary: false, text: '{"status":"connected","type":"control"}' });
  sock.ws.send('echo $PTY_VAR-$((2+3))\n');
  await sock.waitFor((s) => s.output.includes('v-5'), 'echo output');
  r = await processApi.resizePtySession(id, { cols: 120, rows: 40 });
  assert.strictEqual(r.data.cols, 120);
  assert.strictEqual(r.data.rows, 40);
  sock.ws.send(Buffer.from('stty size\n'));
  await sock.waitFor((s) => s.output.includes('40 120'), 'stty size');
  emit(`${name}-pty-ws`, { active: (await processApi.getPtySession(id)).data.active });

  r = await processApi.deletePtySession(id);
  assert.deepStrictEqual(r.data, { message: 'PTY session deleted' });
  const closed = await sock.closed;
  emit(`${name}-pty-delete`, closed);
  const gone = await expectStatus(processApi.getPtySession(id), 404);
  assert.deepStrictEqual(gone, { error: 'PTY session not found' });
  const resizeGone = await expectStatus(processApi.resizePtySession(id, { cols: 10, rows: 10 }), 410);
  emit(`${name}-pty-errors`, { get: gone, resize: resizeGone });

  r = await interpreterApi.createInterpreterContext({ cwd: '/tmp' });
  const ctx = r.data;
  assert.strictEqual(ctx.cwd, '/tmp');
  assert.strictEqual(ctx.language, 'python');
  assert.strictEqual(ctx.active, true);
  r = await interpreterApi.listInterpreterContexts();
  assert.ok(r.data.contexts.some((c) => c.id === ctx.id));
  const exec = openSocket(`${wsBase(cfg)}/process/interpreter/execute`, headers);
  await exec.opened;
  exec.ws.send(JSON.stringify({ code: 'import os\nprint(6 * 7, os.getcwd())', contextId: ctx.id }));
  const execClosed = await exec.closed;
  const chunks = exec.messages.map((m) => JSON.parse(m.text));
  r = await interpreterApi.deleteInterpreterContext(ctx.id);
  assert.deepStrictEqual(r.data, { message: 'Context deleted successfully' });
  r = await interpreterApi.listInterpreterContexts();
  assert.ok(!r.data.contexts.some((c) => c.id === ctx.id));
  const missing = await expectStatus(interpreterApi.deleteInterpreterContext(ctx.id), 404);
  emit(`${name}-interpreter`, { chunks, close: execClosed, missing: missing.message });
}

async function sdkProcess(sandboxId) {
  const pkg = clients['toolbox-0.218'];
  const cfg = toolboxConfiguration(pkg, sandboxId);
  const processApi = new pkg.ProcessApi(cfg);
  const proc = new sdk.Process(cfg, processApi, async () => '', 'python');

  // createPty: one WebSocket to /process/pty/create-connect
  let output = '';
  const handle = await proc.createPty({ id: 'sdk-pty', cols: 90, rows: 25, envs: { SDK_VAR: 'x' },
                                        onData: (d) => { output += Buffer.from(d).toString(); } });
  assert.ok(handle.isConnected());
  const info = await proc.getPtySessionInfo('sdk-pty');
  assert.strictEqual(info.cols, 90);
  await handle.sendInput('echo $SDK_VAR-$((1+1)); stty size\n');
  const until = async (text) => {
    for (let i = 0; i < 400 && !output.includes(text); i++) await new Promise((r) => setTimeout(r, 50));
    assert.ok(output.includes(text), `no ${text} in ${output.slice(-300)}`);
  };
  await until('x-2');
  await until('25 90');
  const resized = await handle.resize(100, 35);
  assert.strictEqual(resized.cols, 100);
  await handle.sendInput('exit 7\n');
  const result = await handle.wait();
  emit('sdk-create-pty', { exitCode: result.exitCode, error: result.error });

  // connectPty to a lazy session, then kill (DELETE)
  await processApi.createPtySession({ id: 'sdk-lazy', lazyStart: true });
  const lazy = await proc.connectPty('sdk-lazy', { onData: () => {} });
  await lazy.waitForConnection();
  await lazy.kill();
  const killed = await lazy.wait();
  emit('sdk-connect-pty', { exitCode: killed.exitCode, error: killed.error });

  // connecting to a session that does not exist fails with the server's message
  let refused;
  try {
    await proc.connectPty('sdk-nope', { onData: () => {} });
  } catch (err) {
    refused = err.message;
  }
  emit('sdk-connect-missing', { error: refused });
}

async function sdkCodeInterpreter(sandboxId) {
  const pkg = clients['toolbox-0.218'];
  const cfg = toolboxConfiguration(pkg, sandboxId);
  const ci = new CodeInterpreter(cfg, new pkg.InterpreterApi(cfg), async () => '');

  const ctx = await ci.createContext('/tmp');
  let r = await ci.runCode('x = 5\nprint(x * 2)', { context: ctx });
  assert.strictEqual(r.stdout, '10\n');
  r = await ci.runCode('import sys\nprint(x)\nprint("warn", file=sys.stderr)', { context: ctx });
  emit('sdk-run-code', { stdout: r.stdout, stderr: r.stderr });
  r = await ci.runCode('import os\nprint(os.environ["CI_VAR"])\n1/0', { context: ctx, envs: { CI_VAR: 'e' } });
  emit('sdk-run-code-error', { stdout: r.stdout, error: r.error });
  let timeoutError;
  try {
    await ci.runCode('import time\ntime.sleep(30)', { context: ctx, timeout: 1 });
  } catch (err) {
    timeoutError = { name: err.constructor.name, message: err.message };
  }
  emit('sdk-run-code-timeout', timeoutError);
  const contexts = await ci.listContexts();
  assert.ok(contexts.some((c) => c.id === ctx.id));
  await ci.deleteContext(ctx);
  r = await ci.runCode('print("default context")');
  emit('sdk-run-code-default', { stdout: r.stdout, listed: (await ci.listContexts()).map((c) => c.id) });
}

// SDK 0.161: the at-mock protocol (no subprotocol; the exit comes from the close reason)
async function sdk0161Flows(sandboxId) {
  const pkg = clients['toolbox-0.161'];
  const cfg = toolboxConfiguration(pkg, sandboxId);
  const proc = new sdk0161.Process(cfg, undefined, new pkg.ProcessApi(cfg), async () => '');
  let output = '';
  const handle = await proc.createPty({ id: 'sdk0161-pty', cols: 70, rows: 20, envs: { OLD_VAR: 'o' },
                                        onData: (d) => { output += Buffer.from(d).toString(); } });
  await handle.sendInput('echo $OLD_VAR-$((3+4)); stty size\n');
  for (let i = 0; i < 400 && !(output.includes('o-7') && output.includes('20 70')); i++) {
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.ok(output.includes('o-7') && output.includes('20 70'), output.slice(-300));
  await handle.sendInput('exit 0\n');
  const result = await handle.wait();
  emit('sdk0161-create-pty', { exitCode: result.exitCode, error: result.error === undefined ? null : result.error });

  const ci = new CodeInterpreter0161(cfg, new pkg.InterpreterApi(cfg), async () => '');
  let r = await ci.runCode('old = 3\nprint(old * 3)');
  const first = r.stdout;
  let timeout;
  try {
    await ci.runCode('import time\ntime.sleep(30)', { timeout: 1 });
  } catch (err) {
    timeout = err.message;
  }
  r = await ci.runCode('print(old)');
  emit('sdk0161-run-code', { first, after: r.stdout, timeout });
}

run(async () => {
  const sandboxId = await createSandbox('official-pty');
  for (const [name, pkg] of Object.entries(clients)) await toolboxClient(name, pkg, sandboxId);
  await sdkProcess(sandboxId);
  await sdkCodeInterpreter(sandboxId);
  await sdk0161Flows(sandboxId);
});
