// @daytonaio/sdk 0.218.0 and 0.161.0 `sandbox.process` against the runner: exec, codeRun,
// sessions, and the session-log streaming callbacks (WebSocket follow, demultiplexed by
// the SDK). The SDK needs a control plane; a minimal one lives here (official-clients.md
// section 4.3): GET /api/sandbox/{id} and a /toolbox/{id}/... proxy to the runner,
// WebSocket upgrades included. Prints one JSON line per step.
'use strict';

const http = require('http');
const net = require('net');
const { assert, config, createSandbox, emit, run } = require('./lib');

const sdks = [
  { label: 'sdk-0.218', pkg: require('@daytonaio/sdk'), serverDemux: true },
  { label: 'sdk-0.161', pkg: require('sdk0161'), serverDemux: false },
];

function startFacade() {
  const { url, token } = config();
  const runner = new URL(url);
  const server = http.createServer((req, res) => {
    const m = req.url.match(/^\/api\/sandbox\/([^/?]+)$/);
    if (req.method === 'GET' && m) {
      const id = decodeURIComponent(m[1]);
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify({
        id, name: id, state: 'started', toolboxProxyUrl: `http://127.0.0.1:${server.address().port}/toolbox`,
        labels: { 'code-toolbox-language': 'python' }, env: {}, user: 'daytona', target: 'us',
      }));
      return;
    }
    const t = req.url.match(/^\/toolbox\/([^/]+)(\/.*)$/);
    if (!t) {
      res.statusCode = 404;
      res.end();
      return;
    }
    const headers = { ...req.headers, host: runner.host, authorization: `Bearer ${token}` };
    const upstream = http.request({
      host: runner.hostname, port: runner.port, method: req.method,
      path: `/sandboxes/${t[1]}/toolbox${t[2]}`, headers,
    }, (up) => {
      res.writeHead(up.statusCode, up.headers);
      up.pipe(res);
    });
    upstream.on('error', () => { res.statusCode = 502; res.end(); });
    req.pipe(upstream);
  });
  // WebSockets: replay the handshake to the runner with the path and token swapped,
  // then relay bytes both ways
  server.on('upgrade', (req, socket, head) => {
    const t = req.url.match(/^\/toolbox\/([^/]+)(\/.*)$/);
    if (!t) {
      socket.destroy();
      return;
    }
    const up = net.connect(Number(runner.port), runner.hostname, () => {
      const lines = [`GET /sandboxes/${t[1]}/toolbox${t[2]} HTTP/1.1`];
      for (let i = 0; i < req.rawHeaders.length; i += 2) {
        const name = req.rawHeaders[i];
        if (/^(authorization|host)$/i.test(name)) continue;
        lines.push(`${name}: ${req.rawHeaders[i + 1]}`);
      }
      lines.push(`Host: ${runner.host}`, `Authorization: Bearer ${token}`);
      up.write(lines.join('\r\n') + '\r\n\r\n');
      if (head && head.length) up.write(head);
      up.pipe(socket);
      socket.pipe(up);
    });
    const end = () => { up.destroy(); socket.destroy(); };
    up.on('error', end);
    socket.on('error', end);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

async function exercise({ label, pkg, serverDemux }, facadeUrl, sandboxId) {
  const daytona = new pkg.Daytona({ apiKey: 'test-key', apiUrl: `${facadeUrl}/api`, target: 'us',
                                    useDeprecatedPolling: true });
  const sandbox = await daytona.get(sandboxId);
  const proc = sandbox.process;

  let r = await proc.executeCommand('echo hello; echo oops >&2');
  assert.strictEqual(r.exitCode, 0);
  assert.strictEqual(r.result.trim(), 'hello\noops');
  r = await proc.executeCommand('printf "%s" "$GREETING"', undefined, { GREETING: 'hi there' });
  assert.strictEqual(r.result, 'hi there');
  r = await proc.executeCommand('pwd', '/');
  assert.strictEqual(r.result.trim(), '/');
  emit('sdk-exec', { sdk: label });

  r = await proc.codeRun('import sys\nprint("py", sys.argv[1:])', { argv: ['a'] });
  assert.strictEqual(r.exitCode, 0);
  assert.strictEqual(r.result.trim(), "py ['a']");
  emit('sdk-code-run', { sdk: label });

  const sid = `sdk-${label}`;
  await proc.createSession(sid);
  r = await proc.executeSessionCommand(sid, { command: 'cd /tmp; echo out; echo err >&2' });
  assert.strictEqual(r.exitCode, 0);
  assert.strictEqual(r.stdout, 'out\n');
  assert.strictEqual(r.stderr, 'err\n');
  r = await proc.executeSessionCommand(sid, { command: 'pwd' });
  assert.strictEqual(r.stdout, '/tmp\n');
  const session = await proc.getSession(sid);
  assert.strictEqual(session.commands.length, 2);
  emit('sdk-session-exec', { sdk: label, serverDemux });

  // the streaming callbacks: WebSocket follow of a running command
  r = await proc.executeSessionCommand(sid, {
    command: 'for i in 1 2 3; do echo "out $i"; echo "err $i" >&2; sleep 0.2; done; printf tail',
    runAsync: true,
  });
  const cid = r.cmdId;
  let out = '';
  let err = '';
  await proc.getSessionCommandLogs(sid, cid, (chunk) => { out += chunk; }, (chunk) => { err += chunk; });
  assert.strictEqual(out, 'out 1\nout 2\nout 3\ntail\n');
  assert.strictEqual(err, 'err 1\nerr 2\nerr 3\n');
  const cmd = await proc.getSessionCommand(sid, cid);
  assert.strictEqual(cmd.exitCode, 0);
  const logs = await proc.getSessionCommandLogs(sid, cid);
  assert.strictEqual(logs.stdout, out);
  assert.strictEqual(logs.stderr, err);
  emit('sdk-session-logs-stream', { sdk: label });

  await proc.deleteSession(sid);
  const sessions = await proc.listSessions();
  assert.ok(!sessions.some((s) => s.sessionId === sid));
  emit('sdk-session-delete', { sdk: label });
}

run(async () => {
  const facade = await startFacade();
  const facadeUrl = `http://127.0.0.1:${facade.address().port}`;
  for (const sdk of sdks) {
    const sandboxId = await createSandbox(`sbx-${sdk.label.replace(/[^a-z0-9]/g, '')}`);
    await exercise(sdk, facadeUrl, sandboxId);
  }
  facade.close();
  emit('done');
});
