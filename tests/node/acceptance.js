// Acceptance review: the operations of both official toolbox clients
// (@daytonaio/toolbox-api-client 0.161.0, @daytona/toolbox-api-client 0.218.0) that the
// other scripts (files.js, process.js, pty.js, git.js) leave out, and the formats the spec
// pins down that they check only loosely. Each API object is wrapped so that the script
// reports which operations it called; tests/python/test_official_acceptance.py asserts on
// that list and on every step.
//
// Environment: MR_URL, MR_TOKEN (lib.js); MR_WORKDIR: the toolbox work directory (the
// runner runs on this host, so the script checks the files and processes themselves).
'use strict';

const fs = require('fs');
const path = require('path');
const { assert, createSandbox, toolboxConfiguration, emit, run } = require('./lib');

const CLIENTS = [
  { tag: '0161', pkg: require('@daytonaio/toolbox-api-client') },
  { tag: '0218', pkg: require('@daytona/toolbox-api-client') },
];
const OUT = '\x01\x01\x01';
const ERR = '\x02\x02\x02';

// Records which operations of an API object were called: "<Class>.<method>"
function recorded(api, calls) {
  const className = api.constructor.name;
  return new Proxy(api, {
    get(target, prop) {
      const value = target[prop];
      if (typeof value !== 'function') return value;
      return (...args) => {
        calls.add(`${className}.${String(prop)}`);
        return value.apply(target, args);
      };
    },
  });
}

function operations(Class) {
  return Object.getOwnPropertyNames(Class.prototype).filter((n) => n !== 'constructor');
}

async function failure(promise) {
  try {
    await promise;
  } catch (err) {
    assert.ok(err.response, `expected an HTTP error, got ${err && err.stack}`);
    return { status: err.response.status, data: err.response.data, headers: err.response.headers };
  }
  throw new Error('the call succeeded but should have failed');
}

// Shape A (toolbox-api.md 1.4)
function assertShapeA(err, status, message, route) {
  assert.strictEqual(err.status, status, JSON.stringify(err.data));
  assert.deepStrictEqual(Object.keys(err.data), ['statusCode', 'message', 'code', 'timestamp', 'path', 'method']);
  assert.strictEqual(err.data.statusCode, status);
  if (message !== undefined) assert.strictEqual(err.data.message, message);
  if (route !== undefined) assert.strictEqual(err.data.path, route);
  assert.match(err.data.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
}

// FileInfo.modTime is Go's Time.String(): "2006-01-02 15:04:05.999999999 -0700 MST" with the
// fraction's trailing zeros (and a bare dot) removed. Returns nanoseconds since the epoch.
function goTimeNs(text) {
  const m = /^(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))? ([+-])(\d\d)(\d\d) \S+$/.exec(text);
  assert.ok(m, `not Go's Time.String(): ${text}`);
  if (m[7] !== undefined) assert.ok(!m[7].endsWith('0'), `trailing zero in ${text}`);
  const seconds = BigInt(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]) / 1000);
  const offset = BigInt((+m[9] * 60 + +m[10]) * 60) * (m[8] === '-' ? -1n : 1n);
  const frac = BigInt((m[7] || '').padEnd(9, '0') || '0');
  return (seconds - offset) * 1000000000n + frac;
}

// Go's FileMode.String() for what lstat/stat can return (toolbox-api.md 1.5)
function goMode(st) {
  const m = Number(st.mode);
  let type = '';
  if ((m & 0o170000) === 0o040000) type += 'd';
  if ((m & 0o170000) === 0o010000) type += 'p';
  if ((m & 0o170000) === 0o140000) type += 'S';
  if (m & 0o4000) type += 'u';
  if (m & 0o2000) type += 'g';
  if ((m & 0o170000) === 0o020000) type += 'Dc';
  if (m & 0o1000) type += 't';
  let rwx = '';
  for (let i = 8; i >= 0; i--) rwx += (m >> i) & 1 ? 'rwxrwxrwx'[8 - i] : '-';
  return (type || '-') + rwx;
}

function assertFileInfo(info, file) {
  const st = fs.statSync(file, { bigint: true });
  assert.strictEqual(info.name, path.basename(file));
  assert.strictEqual(info.size, Number(st.size));
  assert.strictEqual(info.mode, goMode(st));
  assert.strictEqual(info.permissions, (Number(st.mode) & 0o777).toString(8).padStart(4, '0'));
  assert.strictEqual(info.owner, String(st.uid));
  assert.strictEqual(info.group, String(st.gid));
  assert.strictEqual(info.isDir, st.isDirectory());
  assert.strictEqual(goTimeNs(info.modTime), st.mtimeNs, `${info.modTime} vs ${st.mtimeNs}`);
}

async function files(tag, pkg, cfg, work, calls) {
  const api = recorded(new pkg.FileSystemApi(cfg), calls);
  const base = path.join(work, `acc-${tag}`);
  fs.mkdirSync(path.join(base, 'sub', 'nested'), { recursive: true });
  fs.writeFileSync(path.join(base, 'top.txt'), 'top\n');
  fs.writeFileSync(path.join(base, 'sub', 'child.txt'), 'child\n');
  fs.writeFileSync(path.join(base, 'sub', 'nested', 'deep.txt'), 'deep\n');
  fs.chmodSync(path.join(base, 'sub'), 0o1750);                 // sticky: 't' in the mode, not in permissions

  // list: the work directory by default; the FileInfo fields exactly as the spec says
  let r = await api.listFiles();
  assert.ok(r.data.some((f) => f.name === `acc-${tag}`), JSON.stringify(r.data.map((f) => f.name)));
  r = await api.listFiles(base);
  assert.deepStrictEqual(r.data.map((f) => f.name), ['sub', 'top.txt']);
  for (const info of r.data) assertFileInfo(info, path.join(base, info.name));
  assert.strictEqual(r.data[0].mode, 'dtrwxr-x---');
  assert.strictEqual(r.data[0].permissions, '0750');
  r = await api.getFileInfo(path.join(base, 'top.txt'));
  assertFileInfo(r.data, path.join(base, 'top.txt'));
  r = await api.getFileInfo('/');
  assert.strictEqual(r.data.name, '/');
  emit('file-info-format', { client: tag });

  // listFiles depth (0.218): every level down to depth, each entry with its path
  if (tag === '0218') {
    r = await api.listFiles(base, 2);
    assert.deepStrictEqual(r.data.map((f) => f.path), [
      `${base}/sub`, `${base}/sub/child.txt`, `${base}/sub/nested`, `${base}/top.txt`]);
    for (const info of r.data) assertFileInfo(info, info.path);
    const bad = await failure(api.listFiles(base, 0));
    assertShapeA(bad, 400, 'depth must be an integer of at least 1', '/files');
    emit('list-depth', { client: tag, paths: r.data.map((f) => path.relative(base, f.path)) });
  }

  // bulk upload, both part orders: all paths first (httpx) works; a file before its path is
  // the per-part error, the other parts are still written
  const form = new FormData();
  form.append('files[a].path', `${base}/up/a.txt`);
  form.append('files[b].path', `${base}/up/b.txt`);
  form.append('files[a].file', new Blob(['A']), `${base}/up/a.txt`);
  form.append('files[b].file', new Blob(['B']), `${base}/up/b.txt`);
  r = await api.uploadFiles({ data: form });
  assert.strictEqual(r.status, 200);
  assert.strictEqual(fs.readFileSync(`${base}/up/a.txt`, 'utf8') + fs.readFileSync(`${base}/up/b.txt`, 'utf8'), 'AB');
  const wrong = new FormData();
  wrong.append('files[0].file', new Blob(['orphan']), 'orphan');
  wrong.append('files[0].path', `${base}/up/orphan.txt`);
  wrong.append('files[1].path', `${base}/up/fine.txt`);
  wrong.append('files[1].file', new Blob(['fine']), 'fine');
  const err = await failure(api.uploadFiles({ data: wrong }));
  assert.strictEqual(err.status, 400);
  assert.ok(err.data.errors.includes('file[0]: missing .path metadata'), JSON.stringify(err.data));
  assert.ok(!fs.existsSync(`${base}/up/orphan.txt`));
  assert.strictEqual(fs.readFileSync(`${base}/up/fine.txt`, 'utf8'), 'fine');
  emit('bulk-upload-orders', { client: tag, errors: err.data.errors });

  // bulk download: the filename echoes the requested string byte for byte, however odd
  const odd = [`acc-${tag}/sub/../top.txt`, `${base}//up/./a.txt`, `${base}/up/missing file ünï.txt`];
  r = await api.downloadFiles({ paths: odd }, { responseType: 'arraybuffer' });
  assert.strictEqual(r.headers['content-type'], 'multipart/form-data; boundary=DAYTONA-FILE-BOUNDARY');
  const body = Buffer.from(r.data).toString('latin1');
  const names = [...body.matchAll(/Content-Disposition: form-data; name="(\w+)"; filename="([^"]*)"/g)]
    .map((m) => [m[1], Buffer.from(m[2], 'latin1').toString('utf8')]);
  assert.deepStrictEqual(names, [['file', odd[0]], ['file', odd[1]], ['error', odd[2]]]);
  emit('bulk-download-filenames', { client: tag });
}

async function server(tag, pkg, cfg, calls) {
  if (tag !== '0218') return;
  const srv = recorded(new pkg.ServerApi(cfg), calls);
  const proc = recorded(new pkg.ProcessApi(cfg), calls);
  let r = await srv.updateEnv({ set: { ACC_GREETING: 'hello there', ACC_DROP: 'x' } });
  assert.deepStrictEqual(r.data, { message: 'Environment updated successfully' });
  r = await proc.executeCommand({ command: 'echo "$ACC_GREETING/${ACC_DROP-none}"' });
  assert.deepStrictEqual(r.data, { exitCode: 0, result: 'hello there/x\n' });
  r = await srv.updateEnv({ unset: ['ACC_DROP'] });
  r = await proc.executeCommand({ command: 'echo "$ACC_GREETING/${ACC_DROP-none}"' });
  assert.deepStrictEqual(r.data, { exitCode: 0, result: 'hello there/none\n' });
  const bad = await failure(srv.updateEnv({ set: { ACC_N: 5 } }));
  assertShapeA(bad, 400, undefined, '/env');
  emit('update-env', { client: tag });

  const sys = recorded(new pkg.SystemApi(cfg), calls);
  const m = (await sys.getSystemMetrics()).data;
  for (const k of ['cpuCount', 'cpuUsedPct', 'diskFree', 'diskTotal', 'diskUsed', 'memCache', 'memTotal',
    'memUsed', 'timestampUnix']) assert.strictEqual(typeof m[k], 'number', k);
  assert.strictEqual(m.cpuCount, require('os').cpus().length);
  assert.strictEqual(m.memTotal, require('os').totalmem());
  assert.ok(m.cpuUsedPct >= 0 && m.cpuUsedPct <= 100);
  assert.ok(Math.abs(Date.parse(m.timestamp) / 1000 - m.timestampUnix) < 1);
  emit('system-metrics', { client: tag });
}

async function git(tag, pkg, cfg, home, calls) {
  if (tag !== '0218') return;
  const api = recorded(new pkg.GitApi(cfg), calls);
  const r = await api.authenticate({ username: 'acc-user', password: 's3cret', host: 'git.acceptance.test' });
  assert.strictEqual(r.status, 200);
  const stored = fs.readFileSync(path.join(home, '.git-credentials'), 'utf8');
  assert.ok(stored.includes('https://acc-user:s3cret@git.acceptance.test'), stored);
  const cfgValue = await api.getGitConfig('credential.helper');
  assert.deepStrictEqual(cfgValue.data, { value: 'store' });
  const bad = await failure(api.authenticate({ username: 'acc-user' }));
  assertShapeA(bad, 400);
  emit('git-authenticate', { client: tag });
}

// Session logs by SDK version through the client (toolbox-api.md 1.3, 3.6)
async function sessionLogs(tag, pkg, cfg, calls) {
  const api = recorded(new pkg.ProcessApi(cfg), calls);
  const sid = `acc-logs-${tag}`;
  await api.createSession({ sessionId: sid });
  const versioned = (v) => ({ headers: { 'X-Daytona-SDK-Version': v } });
  const r = await api.sessionExecuteCommand(sid, { command: 'echo out; echo err >&2' }, versioned('0.0.0-dev'));
  const cid = r.data.cmdId;
  const byVersion = {};
  for (const v of ['0.0.0-dev', '0.161.0', '0.218.0', '0.26.0']) {
    const logs = await api.getSessionCommandLogs(sid, cid, undefined, versioned(v));
    byVersion[v] = logs.data;
  }
  assert.strictEqual(byVersion['0.0.0-dev'], `${OUT}out\n${ERR}err\n`);
  assert.strictEqual(byVersion['0.161.0'], `${OUT}out\n${ERR}err\n`);
  assert.deepStrictEqual(byVersion['0.218.0'], { output: `${OUT}out\n${ERR}err\n`, stdout: 'out\n', stderr: 'err\n' });
  assert.strictEqual(byVersion['0.26.0'], 'out\nerr\n');
  await api.deleteSession(sid);
  emit('session-logs-versions', { client: tag });
}

// Tier 3 and the routes that only answer a WebSocket upgrade
async function notAvailable(tag, pkg, cfg, work, calls) {
  const proc = recorded(new pkg.ProcessApi(cfg), calls);
  const interp = recorded(new pkg.InterpreterApi(cfg), calls);
  const lsp = recorded(new pkg.LspApi(cfg), calls);

  let err = await failure(proc.getEntrypointSession());
  assertShapeA(err, 404, 'session not found', '/process/session/entrypoint');
  err = await failure(proc.getEntrypointLogs());
  assertShapeA(err, 404, 'session not found', '/process/session/entrypoint/logs');
  err = await failure(proc.getEntrypointLogs(true));
  assert.strictEqual(err.status, 404);
  emit('entrypoint', { client: tag });

  await proc.createPtySession({ id: `acc-plain-${tag}`, lazyStart: true });
  err = await failure(proc.connectPtySession(`acc-plain-${tag}`));
  assert.strictEqual(err.status, 400);
  assert.deepStrictEqual(Object.keys(err.data), ['error']);
  await proc.deletePtySession(`acc-plain-${tag}`);
  err = await failure(interp.executeInterpreterCode());
  assert.strictEqual(err.status, 400);
  emit('websocket-routes-without-upgrade', { client: tag });

  const doc = { languageId: 'python', pathToProject: work, uri: `file://${work}/a.py` };
  err = await failure(lsp.completions({ ...doc, position: { line: 0, character: 1 }, context: { triggerKind: 1 } }));
  assertShapeA(err, 400, 'server not initialized', '/lsp/completions');
  err = await failure(lsp.didClose(doc));
  assertShapeA(err, 400, 'server not initialized', '/lsp/did-close');
  err = await failure(lsp.workspaceSymbols('f', 'python', work));
  assertShapeA(err, 400, 'server not initialized', '/lsp/workspacesymbols');
  err = await failure(lsp.workspaceSymbols('f', 'cobol', work));
  assertShapeA(err, 400, 'unsupported language: cobol');
  emit('lsp', { client: tag });

  // every computer-use operation of the client: Shape C 503
  const cu = recorded(new pkg.ComputerUseApi(cfg), calls);
  const args = {
    click: [{ x: 1, y: 2, button: 'left' }], drag: [{ startX: 1, startY: 1, endX: 2, endY: 2 }],
    moveMouse: [{ x: 1, y: 2 }], scroll: [{ x: 1, y: 2, direction: 'down', amount: 1 }],
    pressHotkey: [{ keys: 'ctrl+c' }], pressKey: [{ key: 'a' }], typeText: [{ text: 'hi' }],
    getProcessErrors: ['xvfb'], getProcessLogs: ['xvfb'], getProcessStatus: ['xvfb'], restartProcess: ['xvfb'],
    takeRegionScreenshot: [0, 0, 10, 10], takeCompressedRegionScreenshot: [0, 0, 10, 10, false, 'png', 50, 1],
    takeScreenshot: [true], takeCompressedScreenshot: [false, 'jpeg', 80, 0.5],
    deleteRecording: ['r1'], downloadRecording: ['r1'], getRecording: ['r1'],
    startRecording: [{ label: 'x' }], stopRecording: [{ id: 'r1' }],
    findAccessibilityNodes: [{ role: 'button' }], focusAccessibilityNode: [{ id: 'n1' }],
    invokeAccessibilityNode: [{ id: 'n1' }], setAccessibilityNodeValue: [{ id: 'n1', value: 'v' }],
    getAccessibilityTree: ['focused', 1, 2],
  };
  const ops = operations(pkg.ComputerUseApi);
  for (const op of ops) {
    err = await failure(cu[op](...(args[op] || [])));
    assert.strictEqual(err.status, 503, `${op}: ${err.status}`);
    assert.deepStrictEqual(Object.keys(err.data).sort(), ['details', 'message', 'solution'], op);
    assert.strictEqual(err.data.message, 'Computer-use functionality is not available', op);
  }
  emit('computer-use', { client: tag, operations: ops.length });
}

run(async () => {
  const work = process.env.MR_WORKDIR;
  assert.ok(work, 'MR_WORKDIR must be set');
  const covered = {};
  for (const { tag, pkg } of CLIENTS) {
    const calls = new Set();
    const id = await createSandbox(`acceptance-${tag}`);
    const cfg = toolboxConfiguration(pkg, id);
    const info = recorded(new pkg.InfoApi(cfg), calls);
    const workDir = (await info.getWorkDir()).data.dir;
    assert.strictEqual(fs.realpathSync(workDir), fs.realpathSync(work));
    const home = (await info.getUserHomeDir()).data.dir;
    await files(tag, pkg, cfg, workDir, calls);
    await server(tag, pkg, cfg, calls);
    await git(tag, pkg, cfg, home, calls);
    await sessionLogs(tag, pkg, cfg, calls);
    await notAvailable(tag, pkg, cfg, workDir, calls);
    covered[tag] = [...calls].sort();
  }
  emit('covered', covered);
  emit('done');
});
