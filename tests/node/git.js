// The official toolbox clients' GitApi (0.161 and 0.218), PortApi, InfoApi, ServerApi,
// LspApi and ComputerUseApi against the runner's toolbox proxy.
//
// Environment: MR_URL, MR_TOKEN (lib.js), MR_GIT_DIR: a folder holding, for each client
// tag ("0161", "0218"), a bare repository remote-<tag>.git and its seed worktree
// remote-<tag>.git-seed, made by the pytest driver. Prints one JSON line per step.
'use strict';

const childProcess = require('child_process');
const fs = require('fs');
const net = require('net');
const path = require('path');
const { assert, createSandbox, toolboxConfiguration, emit, run, config } = require('./lib');

const clients = {
  '0161': require('@daytonaio/toolbox-api-client'),
  '0218': require('@daytona/toolbox-api-client'),
};

function gitCli(args, cwd) {
  const env = Object.assign({}, process.env, {
    GIT_AUTHOR_NAME: 'Seed', GIT_AUTHOR_EMAIL: 'seed@example.com',
    GIT_COMMITTER_NAME: 'Seed', GIT_COMMITTER_EMAIL: 'seed@example.com', GIT_CONFIG_NOSYSTEM: '1',
  });
  return childProcess.execFileSync('git', args, { cwd, env, encoding: 'utf8' });
}

// Runs an API call expected to fail; returns {status, data}.
async function failure(promise) {
  try {
    await promise;
  } catch (err) {
    assert.ok(err.response, `expected an HTTP error, got ${err}`);
    return { status: err.response.status, data: err.response.data };
  }
  throw new Error('the call succeeded but should have failed');
}

async function gitFlow(tag, pkg, cfg, dir) {
  const git = new pkg.GitApi(cfg);
  const remote = path.join(dir, `remote-${tag}.git`);
  const seed = `${remote}-seed`;
  const repo = path.join(dir, `clone-${tag}`);

  let res = await git.cloneRepository({ url: remote, path: repo });
  assert.strictEqual(res.status, 200);
  emit('clone', { tag, status: res.status });

  res = await git.getStatus(repo);
  assert.strictEqual(res.data.currentBranch, 'main');
  assert.deepStrictEqual(res.data.fileStatus, []);
  assert.strictEqual(res.data.branchPublished, true);
  emit('status-clean', { tag, status: res.data });

  fs.writeFileSync(path.join(repo, 'new.txt'), 'new\n');
  fs.appendFileSync(path.join(repo, 'README.md'), 'more\n');
  res = await git.getStatus(repo);
  const byName = Object.fromEntries(res.data.fileStatus.map((f) => [f.name, f]));
  assert.deepStrictEqual([byName['new.txt'].staging, byName['new.txt'].worktree], ['Untracked', 'Untracked']);
  assert.deepStrictEqual([byName['README.md'].staging, byName['README.md'].worktree], ['Unmodified', 'Modified']);
  emit('status-dirty', { tag, files: res.data.fileStatus });

  res = await git.addFiles({ path: repo, files: ['.'] });
  assert.strictEqual(res.status, 200);
  res = await git.getStatus(repo);
  assert.ok(res.data.fileStatus.every((f) => f.worktree === 'Unmodified'), JSON.stringify(res.data));
  assert.ok(res.data.fileStatus.some((f) => f.name === 'new.txt' && f.staging === 'Added'));

  res = await git.commitChanges({ path: repo, message: `commit from ${tag}`, author: `Client ${tag}`, email: `c${tag}@example.com` });
  assert.match(res.data.hash, /^[0-9a-f]{40}$/);
  const commit = res.data.hash;
  emit('commit', { tag, hash: commit });

  const empty = await failure(git.commitChanges({ path: repo, message: 'empty', author: 'A', email: 'a@x' }));
  assert.strictEqual(empty.status, 400);
  assert.strictEqual(empty.data.message, 'cannot create empty commit: clean working tree');

  res = await git.listBranches(repo);
  assert.deepStrictEqual(res.data.branches, ['main']);
  res = await git.createBranch({ path: repo, name: 'feature' });
  assert.strictEqual(res.status, 201);
  res = await git.getStatus(repo);
  assert.strictEqual(res.data.currentBranch, 'feature');
  res = await git.listBranches(repo);
  assert.deepStrictEqual(res.data.branches.slice().sort(), ['feature', 'main']);
  res = await git.checkoutBranch({ path: repo, branch: 'main' });
  assert.strictEqual(res.status, 200);
  res = await git.deleteBranch({ path: repo, name: 'feature' });
  assert.strictEqual(res.status, 204);
  res = await git.listBranches(repo);
  assert.deepStrictEqual(res.data.branches, ['main']);
  emit('branches', { tag });

  res = await git.getCommitHistory(repo);
  assert.strictEqual(res.data.length, 2);
  assert.strictEqual(res.data[0].hash, commit);
  assert.strictEqual(res.data[0].message, `commit from ${tag}\n`);
  assert.strictEqual(res.data[0].author, `Client ${tag}`);
  assert.strictEqual(res.data[0].email, `c${tag}@example.com`);
  assert.match(res.data[0].timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)$/);
  emit('history', { tag, count: res.data.length });

  // checkout of a commit: detached HEAD
  const first = res.data[1].hash;
  res = await git.checkoutBranch({ path: repo, branch: first });
  res = await git.getStatus(repo);
  assert.strictEqual(res.data.currentBranch, 'HEAD');
  await git.checkoutBranch({ path: repo, branch: 'main' });

  res = await git.pushChanges({ path: repo });
  assert.strictEqual(res.status, 200);
  emit('push', { tag, hash: commit });

  // the remote moves on; pull brings the change
  gitCli(['pull', '-q', '--ff-only', 'origin', 'main'], seed);
  fs.writeFileSync(path.join(seed, 'from-seed.txt'), 'seed\n');
  gitCli(['add', 'from-seed.txt'], seed);
  gitCli(['commit', '-q', '-m', 'from seed'], seed);
  gitCli(['push', '-q', 'origin', 'main'], seed);
  res = await git.pullChanges({ path: repo });
  assert.strictEqual(res.status, 200);
  assert.strictEqual(fs.readFileSync(path.join(repo, 'from-seed.txt'), 'utf8'), 'seed\n');
  emit('pull', { tag });

  let err = await failure(git.getStatus(path.join(dir, 'not-a-repo')));
  assert.deepStrictEqual([err.status, err.data.message], [400, 'repository does not exist']);
  err = await failure(git.cloneRepository({ url: remote, path: repo }));
  assert.deepStrictEqual([err.status, err.data.message], [400, 'repository already exists']);
  err = await failure(git.checkoutBranch({ path: repo, branch: 'nope' }));
  assert.deepStrictEqual([err.status, err.data.message], [400, "failed to checkout branch or commit 'nope': reference not found"]);
  emit('git-errors', { tag });

  if (tag !== '0218') return;

  // the newer routes
  const fresh = path.join(dir, 'fresh-0218');
  res = await git.initRepository({ path: fresh, initial_branch: 'trunk' });
  assert.strictEqual(res.status, 201);
  res = await git.getStatus(fresh);
  assert.strictEqual(res.data.currentBranch, 'trunk');
  res = await git.listRemotes(fresh);
  assert.deepStrictEqual(res.data, { remotes: [] });
  res = await git.addRemote({ path: fresh, name: 'origin', url: remote, fetch: true });
  assert.strictEqual(res.status, 201);
  res = await git.listRemotes(fresh);
  assert.deepStrictEqual(res.data, { remotes: [{ name: 'origin', url: remote }] });
  res = await git.setGitConfig({ path: fresh, scope: 'local', key: 'pull.ff', value: 'only' });
  assert.strictEqual(res.status, 200);
  res = await git.getGitConfig('pull.ff', fresh, 'local');
  assert.deepStrictEqual(res.data, { value: 'only' });
  res = await git.getGitConfig('no.such', fresh, 'local');
  assert.strictEqual(res.data.value, null);
  res = await git.configureUser({ path: fresh, scope: 'local', name: 'Fresh User', email: 'fresh@example.com' });
  assert.strictEqual(res.status, 200);
  res = await git.getGitConfig('user.email', fresh, 'local');
  assert.deepStrictEqual(res.data, { value: 'fresh@example.com' });
  emit('init-remotes-config', { tag });

  // reset and restore in the clone
  res = await git.resetChanges({ path: repo, mode: 'soft', target: 'HEAD~1' });
  assert.strictEqual(res.status, 200);
  res = await git.getStatus(repo);
  assert.ok(res.data.fileStatus.some((f) => f.name === 'from-seed.txt' && f.staging === 'Added'), JSON.stringify(res.data));
  res = await git.resetChanges({ path: repo, mode: 'hard' });
  assert.strictEqual(res.status, 200);
  fs.writeFileSync(path.join(repo, 'README.md'), 'scribbled\n');
  res = await git.restoreFiles({ path: repo, files: ['README.md'] });
  assert.strictEqual(res.status, 200);
  assert.notStrictEqual(fs.readFileSync(path.join(repo, 'README.md'), 'utf8'), 'scribbled\n');
  res = await git.getStatus(repo);
  assert.deepStrictEqual(res.data.fileStatus, []);
  emit('reset-restore', { tag });
}

function listenInRange() {
  return new Promise((resolve, reject) => {
    let tries = 0;
    const attempt = () => {
      const port = 3000 + Math.floor(Math.random() * 7000);
      const server = net.createServer();
      server.once('error', (e) => {
        if (++tries < 100) attempt(); else reject(e);
      });
      server.listen(port, '127.0.0.1', () => resolve({ server, port }));
    };
    attempt();
  });
}

async function otherApis(tag, pkg, cfg, dir) {
  // InfoApi
  const info = new pkg.InfoApi(cfg);
  let res = await info.getVersion();
  assert.strictEqual(typeof res.data.version, 'string');
  const version = res.data.version;
  res = await info.getWorkDir();
  assert.ok(path.isAbsolute(res.data.dir), res.data.dir);
  const workDir = res.data.dir;
  res = await info.getUserHomeDir();
  assert.ok(path.isAbsolute(res.data.dir), res.data.dir);
  emit('info', { tag, version, workDir, homeDir: res.data.dir });

  // ServerApi
  const server = new pkg.ServerApi(cfg);
  res = await server.initialize({ token: 'telemetry-token' });
  assert.deepStrictEqual(res.data, { message: 'Auth token set and telemetry initialized successfully' });
  emit('server-init', { tag });

  // PortApi
  const ports = new pkg.PortApi(cfg);
  const runnerPort = Number(new URL(config().url).port);
  const { server: listener, port } = await listenInRange();
  try {
    res = await ports.getPorts();
    assert.ok(res.data.ports.includes(runnerPort), JSON.stringify(res.data));
    assert.ok(res.data.ports.includes(port), JSON.stringify(res.data));
    res = await ports.isPortInUse(port);
    assert.deepStrictEqual(res.data, { isInUse: true });
  } finally {
    await new Promise((r) => listener.close(r));
  }
  res = await ports.isPortInUse(port);
  assert.deepStrictEqual(res.data, { isInUse: false });
  let err = await failure(ports.isPortInUse(80));
  assert.deepStrictEqual([err.status, err.data.message], [400, 'port out of range: must be between 3000 and 9999']);
  emit('ports', { tag, port });

  // LspApi: no language server runs in this toolbox
  const lsp = new pkg.LspApi(cfg);
  err = await failure(lsp.start({ languageId: 'python', pathToProject: dir }));
  assert.deepStrictEqual([err.status, err.data.message], [500, 'error starting LSP server']);
  err = await failure(lsp.didOpen({ languageId: 'python', pathToProject: dir, uri: `file://${dir}/a.py` }));
  assert.deepStrictEqual([err.status, err.data.message], [400, 'server not initialized']);
  err = await failure(lsp.documentSymbols('rust', dir, `file://${dir}/a.rs`));
  assert.deepStrictEqual([err.status, err.data.message], [400, 'unsupported language: rust']);
  err = await failure(lsp.stop({ languageId: 'python', pathToProject: dir }));
  assert.deepStrictEqual([err.status, err.data.message], [500, 'error stopping LSP server']);
  emit('lsp', { tag });

  // ComputerUseApi: the plugin is absent
  const cu = new pkg.ComputerUseApi(cfg);
  const calls = [
    () => cu.startComputerUse(), () => cu.getComputerUseStatus(), () => cu.getMousePosition(),
    () => cu.takeScreenshot(true), () => cu.takeRegionScreenshot(0, 0, 10, 10),
    () => cu.moveMouse({ x: 1, y: 2 }), () => cu.typeText({ text: 'hi' }), () => cu.getDisplayInfo(),
    () => cu.getWindows(), () => cu.getProcessStatus('xvfb'), () => cu.listRecordings(),
  ];
  if (tag === '0218') calls.push(() => cu.getAccessibilityTree());
  for (const call of calls) {
    err = await failure(call());
    assert.strictEqual(err.status, 503);
    assert.strictEqual(err.data.message, 'Computer-use functionality is not available');
    assert.ok(err.data.details && err.data.solution);
  }
  emit('computer-use', { tag, calls: calls.length });
}

run(async () => {
  const dir = process.env.MR_GIT_DIR;
  assert.ok(dir, 'MR_GIT_DIR must be set');
  for (const [tag, pkg] of Object.entries(clients)) {
    const id = await createSandbox(`official-git-${tag}`);
    const cfg = toolboxConfiguration(pkg, id);
    await gitFlow(tag, pkg, cfg, dir);
    await otherApis(tag, pkg, cfg, dir);
  }
  emit('done');
});
