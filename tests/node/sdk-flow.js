// The end-to-end flow of the official @daytonaio/sdk against mock-runner's control-plane
// facade (official-clients.md section 4), shared by sdk-0218.js, sdk-0161.js and
// sdk-0108.js. Each step prints one JSON line {step, ok, ...what the SDK returned} or
// {step, ok: false, error, message}; a failing step does not stop the flow, so that the
// pytest side can tell which area fails. Only a failed create is fatal.
//
// Environment (from tests/python/test_official_sdk.py through mrtest.run_node):
//   MR_URL, MR_TOKEN   the runner; the SDK's apiUrl is MR_URL + "/api", its apiKey MR_TOKEN
//   MR_WORKDIR         an empty directory for the file steps (the toolbox runs on this host)
//   MR_GIT_REPO        a local git repository to clone
//   MR_SUITE           a label value unique to this run
//   MR_EVENTS=1        leave the SDK's socket.io event stream on (SDK >= 0.200)
//
// The script never calls process.exit() on success, and does not dispose the client: it
// must end by itself, which is what tells that nothing the facade answered (socket.io
// in particular) keeps Node alive.
'use strict';

const { config, emit } = require('./lib');

function errorInfo(err) {
  return {
    error: err && err.constructor ? err.constructor.name : typeof err,
    message: String(err && err.message !== undefined ? err.message : err).slice(0, 500),
  };
}

async function step(name, fn) {
  try {
    const data = await fn();
    emit(name, Object.assign({ ok: true }, data || {}));
    return data;
  } catch (err) {
    emit(name, Object.assign({ ok: false }, errorInfo(err)));
    return undefined;
  }
}

// Runs @fn expecting it to fail; returns which error the SDK raised.
async function failure(fn) {
  try {
    await fn();
    return { raised: false };
  } catch (err) {
    return Object.assign({ raised: true }, errorInfo(err));
  }
}

function names(files) {
  return (files || []).map((f) => f.name).sort();
}

function logText(logs) {
  // 0.218 answers {output, stdout, stderr}; older SDKs may give the raw string
  if (typeof logs === 'string') return { output: logs };
  return { output: logs && logs.output, stdout: logs && logs.stdout, stderr: logs && logs.stderr };
}

// @sdk: { Daytona, version, list(daytona, labels) -> [Sandbox] }
async function runFlow(sdk) {
  const { url, token } = config();
  const work = process.env.MR_WORKDIR;
  const repo = process.env.MR_GIT_REPO;
  const suite = process.env.MR_SUITE || `sdk-${sdk.version}`;
  const options = { apiUrl: `${url}/api`, apiKey: token };
  if (process.env.MR_EVENTS !== '1') options.useDeprecatedPolling = true;
  const daytona = new sdk.Daytona(options);
  const dir = `${work}/sdk-dir`;
  const file = `${dir}/hello.txt`;
  const content = `hello via sdk ${sdk.version}\n`;

  let sandbox;
  await step('create', async () => {
    const params = { labels: { suite }, envVars: { FROM_CREATE: 'yes' } };
    if (sdk.createName) params.name = `${suite}-box`;
    sandbox = await daytona.create(params);
    const sb = sandbox;
    return {
      id: sb.id, name: sb.name, state: sb.state, labels: sb.labels, snapshot: sb.snapshot, user: sb.user,
      env: sb.env, cpu: sb.cpu, memory: sb.memory, disk: sb.disk, toolboxProxyUrl: sb.toolboxProxyUrl,
    };
  });
  if (!sandbox) {
    process.exitCode = 1;
    return;
  }

  await step('exec', async () => {
    const r = await sandbox.process.executeCommand('echo hi');
    return { exitCode: r.exitCode, result: r.result };
  });
  await step('exec_cwd_env', async () => {
    const r = await sandbox.process.executeCommand('printf "%s|%s" "$(pwd)" "$GREETING"', work, { GREETING: 'hello env' });
    return { exitCode: r.exitCode, result: r.result };
  });
  await step('exec_exit_code', async () => {
    const r = await sandbox.process.executeCommand('echo oops; exit 3');
    return { exitCode: r.exitCode, result: r.result };
  });

  await step('fs_folder', async () => {
    await sandbox.fs.createFolder(dir, '755');
    return { listed: names(await sandbox.fs.listFiles(work)) };
  });
  await step('fs_upload', async () => {
    await sandbox.fs.uploadFile(Buffer.from(content), file);
    return {};
  });
  await step('fs_list', async () => {
    const files = await sandbox.fs.listFiles(dir);
    return { files: files.map((f) => ({ name: f.name, size: f.size, isDir: f.isDir })) };
  });
  await step('fs_download', async () => {
    const data = await sandbox.fs.downloadFile(file);
    return { content: Buffer.from(data).toString('utf8') };
  });
  await step('fs_download_missing', async () => failure(() => sandbox.fs.downloadFile(`${dir}/missing.txt`)));
  await step('fs_delete', async () => {
    await sandbox.fs.deleteFile(file);
    return { listed: names(await sandbox.fs.listFiles(dir)) };
  });
  await step('fs_delete_folder', async () => {
    await sandbox.fs.deleteFile(dir, true);
    return { listed: names(await sandbox.fs.listFiles(work)) };
  });

  await step('session', async () => {
    await sandbox.process.createSession('sdk-session');
    const run = await sandbox.process.executeSessionCommand('sdk-session', { command: 'export SEEN=kept; echo from-session' });
    const again = await sandbox.process.executeSessionCommand('sdk-session', { command: 'echo "$SEEN"' });
    const logs = await sandbox.process.getSessionCommandLogs('sdk-session', run.cmdId);
    const info = await sandbox.process.getSession('sdk-session');
    await sandbox.process.deleteSession('sdk-session');
    return {
      cmdId: run.cmdId, exitCode: run.exitCode, output: run.output, stdout: run.stdout,
      againOutput: again.output, againStdout: again.stdout, logs: logText(logs),
      commands: (info.commands || []).map((c) => ({ command: c.command, exitCode: c.exitCode })),
    };
  });
  await step('session_async', async () => {
    await sandbox.process.createSession('sdk-async');
    const run = await sandbox.process.executeSessionCommand('sdk-async', { command: 'sleep 0.3; echo later', runAsync: true });
    let cmd;
    for (let i = 0; i < 100; i++) {
      cmd = await sandbox.process.getSessionCommand('sdk-async', run.cmdId);
      if (cmd.exitCode !== undefined && cmd.exitCode !== null) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const logs = await sandbox.process.getSessionCommandLogs('sdk-async', run.cmdId);
    await sandbox.process.deleteSession('sdk-async');
    return { cmdId: run.cmdId, exitCode: cmd && cmd.exitCode, logs: logText(logs) };
  });

  await step('git_clone', async () => {
    const target = `${work}/clone`;
    await sandbox.git.clone(repo, target);
    const status = await sandbox.git.status(target);
    const listed = names(await sandbox.fs.listFiles(target));
    return {
      currentBranch: status.currentBranch, ahead: status.ahead, behind: status.behind,
      fileStatus: status.fileStatus, listed,
    };
  });

  await step('git_commit', async () => {
    const target = `${work}/clone`;
    await sandbox.fs.uploadFile(Buffer.from('added by the sdk\n'), `${target}/added.txt`);
    const before = await sandbox.git.status(target);
    await sandbox.git.add(target, ['added.txt']);
    const staged = await sandbox.git.status(target);
    const commit = await sandbox.git.commit(target, 'sdk commit', 'SDK Tester', 'sdk@example.com');
    const after = await sandbox.git.status(target);
    await sandbox.git.createBranch(target, 'sdk-branch');
    const branches = await sandbox.git.branches(target);
    return {
      before: before.fileStatus, staged: staged.fileStatus, sha: commit && commit.sha,
      afterFiles: after.fileStatus, ahead: after.ahead, branches: (branches.branches || []).slice().sort(),
    };
  });

  await step('dirs', async () => ({ home: await sandbox.getUserHomeDir(), work: await sandbox.getWorkDir() }));
  await step('fs_more', async () => {
    const base = `${work}/more`;
    await sandbox.fs.createFolder(base, '755');
    await sandbox.fs.uploadFile(Buffer.from('alpha needle\nbeta\n'), `${base}/a.txt`);
    await sandbox.fs.uploadFile(Buffer.from('no match here\n'), `${base}/b.log`);
    const details = await sandbox.fs.getFileDetails(`${base}/a.txt`);
    const found = await sandbox.fs.findFiles(base, 'needle');
    const searched = await sandbox.fs.searchFiles(base, '*.txt');
    const replaced = await sandbox.fs.replaceInFiles([`${base}/a.txt`], 'needle', 'pin');
    const afterReplace = Buffer.from(await sandbox.fs.downloadFile(`${base}/a.txt`)).toString('utf8');
    await sandbox.fs.setFilePermissions(`${base}/a.txt`, { mode: '600' });
    const afterChmod = await sandbox.fs.getFileDetails(`${base}/a.txt`);
    await sandbox.fs.moveFiles(`${base}/a.txt`, `${base}/moved.txt`);
    const listed = names(await sandbox.fs.listFiles(base));
    const missing = await failure(() => sandbox.fs.getFileDetails(`${base}/nothing.txt`));
    return {
      details: { name: details.name, size: details.size, isDir: details.isDir },
      found: (found || []).map((m) => ({ file: m.file, line: m.line, content: m.content })),
      searched: (searched.files || []).slice().sort(),
      replaced: (replaced || []).map((r) => ({ file: r.file, success: r.success })),
      afterReplace, modeAfterChmod: afterChmod.mode, permissionsAfterChmod: afterChmod.permissions,
      listed, missing,
    };
  });
  await step('code_run', async () => {
    const r = await sandbox.process.codeRun('print(6 * 7)');
    return { exitCode: r.exitCode, result: r.result };
  });
  await step('refresh', async () => {
    const before = sandbox.state;
    // make the DTO the SDK holds stale, then read it back
    sandbox.state = 'unknown';
    await sandbox.refreshData();
    return { before, state: sandbox.state, labels: sandbox.labels, name: sandbox.name };
  });
  await step('set_labels', async () => {
    const labels = await sandbox.setLabels({ suite, relabelled: 'yes' });
    const found = await sdk.list(daytona, { relabelled: 'yes', suite });
    await sandbox.setAutostopInterval(42);
    const got = await daytona.get(sandbox.id);
    return {
      returned: labels, held: sandbox.labels, listed: found.map((s) => s.id),
      autoStopInterval: got.autoStopInterval,
    };
  });

  await step('get', async () => {
    const byId = await daytona.get(sandbox.id);
    const out = { id: byId.id, state: byId.state, name: byId.name, labels: byId.labels };
    if (sdk.createName) out.byNameId = (await daytona.get(`${suite}-box`)).id;
    return out;
  });
  await step('list', async () => {
    const found = await sdk.list(daytona, { suite });
    const none = await sdk.list(daytona, { suite: `${suite}-nobody` });
    return { ids: found.map((s) => s.id), states: found.map((s) => s.state), none: none.length };
  });
  await step('stop', async () => {
    await sandbox.stop();
    return { state: sandbox.state };
  });
  await step('start', async () => {
    await sandbox.start();
    return { state: sandbox.state };
  });
  await step('exec_after_restart', async () => {
    const r = await sandbox.process.executeCommand('echo again');
    return { exitCode: r.exitCode, result: r.result };
  });
  await step('delete', async () => {
    await sandbox.delete();
    return { state: sandbox.state };
  });
  await step('get_after_delete', async () => {
    const gone = await daytona.get(sandbox.id);
    return { state: gone.state };
  });
  await step('get_missing', async () => failure(() => daytona.get('no-such-sandbox')));
  if (typeof daytona.findOne === 'function') {
    // 0.108 only: later SDKs dropped findOne
    await step('find_one', async () => {
      const byId = await daytona.findOne({ id: sandbox.id });
      const other = await daytona.create({ labels: { suite: `${suite}-find` } });
      const byLabel = await daytona.findOne({ labels: { suite: `${suite}-find` } });
      const none = await failure(() => daytona.findOne({ labels: { suite: `${suite}-nobody` } }));
      await daytona.delete(other);
      return { byId: byId.id, otherId: other.id, byLabel: byLabel.id, none };
    });
  }
  await step('delete_stopped', async () => {
    // a second sandbox, stopped and deleted through the Daytona object
    const other = await daytona.create({ labels: { suite: `${suite}-stopped` } });
    await daytona.stop(other);
    const stopped = (await daytona.get(other.id)).state;
    await daytona.delete(other);
    const after = (await daytona.get(other.id)).state;
    return { id: other.id, stopped, after };
  });
  emit('done', { ok: true });
}

// Runs the flow without forcing the process to exit (see above).
function main(sdk) {
  runFlow(sdk).catch((err) => {
    process.stderr.write(`FAILED: ${err && err.stack ? err.stack : err}\n`);
    process.exitCode = 1;
  });
}

module.exports = { main, step, failure };
