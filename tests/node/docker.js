// Both official toolbox clients (@daytonaio/toolbox-api-client 0.161.0 and
// @daytona/toolbox-api-client 0.218.0) against a runner on the docker toolbox backend:
// everything goes over HTTP into the shared container, nothing looks at the local disk.
// Two sandboxes: what one writes, the other reads; git runs in the container too.
// Prints one JSON line per step.
'use strict';

const { assert, createSandbox, toolboxConfiguration, emit, run } = require('./lib');

const clients = [
  { tag: '0161', pkg: require('@daytonaio/toolbox-api-client') },
  { tag: '0218', pkg: require('@daytona/toolbox-api-client') },
];

async function waitFinished(api, sid, cid) {
  for (let i = 0; i < 200; i++) {
    const { data } = await api.getSessionCommand(sid, cid);
    if (data.exitCode !== undefined) return data;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`command ${cid} did not finish`);
}

async function exercise({ tag, pkg }, writer, reader) {
  const fsA = new pkg.FileSystemApi(toolboxConfiguration(pkg, writer));
  const fsB = new pkg.FileSystemApi(toolboxConfiguration(pkg, reader));
  const procA = new pkg.ProcessApi(toolboxConfiguration(pkg, writer));
  const procB = new pkg.ProcessApi(toolboxConfiguration(pkg, reader));
  const base = `/tmp/official-${tag}`;

  // files: written through one sandbox, read through the other
  let res = await fsA.createFolder(base, '755');
  assert.strictEqual(res.status, 201);
  const content = Buffer.alloc(256 * 1024, tag);
  res = await fsA.uploadFile(`${base}/data.bin`, new Blob([content]));
  assert.strictEqual(res.status, 200);
  res = await fsB.getFileInfo(`${base}/data.bin`);
  assert.strictEqual(res.data.size, content.length);
  assert.strictEqual(res.data.isDir, false);
  res = await fsB.downloadFile(`${base}/data.bin`, { responseType: 'arraybuffer' });
  assert.ok(Buffer.from(res.data).equals(content), 'downloaded bytes differ');
  res = await fsB.listFiles(base);
  assert.deepStrictEqual(res.data.map((f) => f.name), ['data.bin']);
  emit('files', { client: tag });

  // execute in the container: the image's files, the container's work dir
  res = await procB.executeCommand({ command: `sh -c "cat ${base}/data.bin | wc -c; pwd; grep daytona /etc/group"` });
  assert.strictEqual(res.data.exitCode, 0, JSON.stringify(res.data));
  assert.ok(res.data.result.includes(String(content.length)), res.data.result);
  assert.ok(res.data.result.includes('/home/daytona'), res.data.result);
  assert.ok(res.data.result.includes('daytona:x:1000:'), res.data.result);
  emit('execute', { client: tag });

  // a session started through one sandbox, used through the other
  const sid = `official-${tag}`;
  res = await procA.createSession({ sessionId: sid });
  assert.strictEqual(res.status, 201);
  res = await procA.sessionExecuteCommand(sid, { command: 'export FROM_A=yes', runAsync: false });
  assert.strictEqual(res.data.exitCode, 0);
  res = await procB.sessionExecuteCommand(sid, { command: 'echo "from a: $FROM_A"', runAsync: false });
  assert.ok(res.data.output.includes('from a: yes'), JSON.stringify(res.data));
  res = await procB.sessionExecuteCommand(sid, { command: 'for i in 1 2 3; do echo tick-$i; sleep 0.1; done', runAsync: true });
  assert.strictEqual(res.status, 202);
  const cid = res.data.cmdId;
  // follow over plain HTTP: the runner reads the daemon's WebSocket for us
  res = await procA.getSessionCommandLogs(sid, cid, true, { responseType: 'text' });
  for (const i of [1, 2, 3]) assert.ok(String(res.data).includes(`tick-${i}`), JSON.stringify(res.data));
  const done = await waitFinished(procA, sid, cid);
  assert.strictEqual(done.exitCode, 0);
  res = await procB.deleteSession(sid);
  assert.strictEqual(res.status, 204);
  emit('session', { client: tag });

  // git in the container (the image's git): a clone of a repository made there, a file
  // uploaded through one sandbox, added, committed and pushed through the other
  const gitA = new pkg.GitApi(toolboxConfiguration(pkg, writer));
  const gitB = new pkg.GitApi(toolboxConfiguration(pkg, reader));
  const origin = `${base}/origin.git`;
  const repo = `${base}/clone`;
  res = await procA.executeCommand({
    command: `sh -c "git init -q -b main ${base}/seed && cd ${base}/seed && echo seed > README.md && git add . && `
      + `git -c user.name=Seed -c user.email=seed@example.com commit -q -m seed && git clone -q --bare . ${origin}"`,
  });
  assert.strictEqual(res.data.exitCode, 0, JSON.stringify(res.data));
  res = await gitA.cloneRepository({ url: origin, path: repo });
  assert.strictEqual(res.status, 200);
  res = await gitB.getStatus(repo);
  assert.strictEqual(res.data.currentBranch, 'main');
  assert.deepStrictEqual(res.data.fileStatus, []);
  res = await fsA.uploadFile(`${repo}/from-${tag}.txt`, new Blob([`from ${tag}\n`]));
  assert.strictEqual(res.status, 200);
  res = await gitB.addFiles({ path: repo, files: ['.'] });
  assert.strictEqual(res.status, 200);
  res = await gitB.commitChanges({ path: repo, message: `commit from ${tag}`, author: `Client ${tag}`, email: `c${tag}@example.com` });
  assert.strictEqual(res.status, 200);
  assert.ok(res.data.hash, JSON.stringify(res.data));
  res = await gitA.pushChanges({ path: repo });
  assert.strictEqual(res.status, 200);
  res = await procB.executeCommand({ command: `git --git-dir=${origin} log --format=%s main` });
  assert.strictEqual(res.data.exitCode, 0, JSON.stringify(res.data));
  assert.strictEqual(res.data.result, `commit from ${tag}\nseed\n`);
  emit('git', { client: tag });

  res = await fsA.deleteFile(base, true);
  assert.strictEqual(res.status, 204);
  emit('cleanup', { client: tag });
}

run(async () => {
  const a = await createSandbox('official-docker-a');
  const b = await createSandbox('official-docker-b');
  for (const client of clients) await exercise(client, a, b);
  emit('done');
});
