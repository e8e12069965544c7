// The FileSystemApi of both official toolbox clients (@daytonaio/toolbox-api-client 0.161,
// @daytona/toolbox-api-client 0.218) against the runner's toolbox proxy, every files
// operation the spec covers, with assertions on what comes back and on the files; then
// the SDKs' own FileSystem classes (0.161 and 0.218) on top of those clients for the
// bulk transfer paths (uploadFile(s), downloadFile(s)) and their error mapping.
'use strict';

const { assert, createSandbox, toolboxConfiguration, emit, run } = require('./lib');
const FormDataStream = require('form-data');
const { Readable } = require('stream');

const CLIENTS = [
  { tag: '0161', pkg: require('@daytonaio/toolbox-api-client'), singleUpload: '/files/upload' },
  { tag: '0218', pkg: require('@daytona/toolbox-api-client'), singleUpload: '/files/upload-v2' },
];

async function expectStatus(promise, status, messagePart) {
  try {
    await promise;
  } catch (err) {
    assert.ok(err.response, `expected an HTTP error, got ${err}`);
    assert.strictEqual(err.response.status, status, JSON.stringify(err.response.data));
    if (messagePart !== undefined) {
      const data = err.response.data;
      const message = typeof data === 'string' ? data : data.message || JSON.stringify(data);
      assert.ok(message.includes(messagePart), `"${message}" lacks "${messagePart}"`);
    }
    return err.response;
  }
  throw new Error(`expected HTTP ${status}, the call succeeded`);
}

// Parses a multipart body (Buffer) with its boundary: [{name, filename, type, data}]
function parseMultipart(body, contentType) {
  const boundary = /boundary=([^;]+)/.exec(contentType)[1];
  const delim = Buffer.from(`\r\n--${boundary}`);
  const buf = Buffer.concat([Buffer.from('\r\n'), body]);
  const parts = [];
  let pos = buf.indexOf(delim);
  assert.strictEqual(pos, 0);
  for (;;) {
    pos += delim.length;
    if (buf.slice(pos, pos + 2).toString() === '--') break;
    const headEnd = buf.indexOf('\r\n\r\n', pos);
    const head = buf.slice(pos + 2, headEnd).toString('latin1');
    const next = buf.indexOf(delim, headEnd + 4);
    const disp = /content-disposition: ([^\r\n]*)/i.exec(head)[1];
    parts.push({
      name: /\bname="([^"]*)"/.exec(disp)[1],
      filename: /filename="((?:[^"\\]|\\.)*)"/.exec(disp)[1].replace(/\\(.)/g, '$1'),
      type: (/content-type: ([^\r\n]*)/i.exec(head) || [])[1],
      data: buf.slice(headEnd + 4, next),
    });
    pos = next;
  }
  return parts;
}

async function exerciseClient(client, sandboxId, workDir) {
  const { tag, pkg } = client;
  const api = new pkg.FileSystemApi(toolboxConfiguration(pkg, sandboxId));
  const base = `${workDir}/node-${tag}`;
  const fs = require('fs');

  // folder (201), idempotent
  let res = await api.createFolder(base, '755');
  assert.strictEqual(res.status, 201);
  res = await api.createFolder(`${base}/sub/deeper`, '700');
  assert.strictEqual(res.status, 201);
  assert.strictEqual(fs.statSync(`${base}/sub/deeper`).mode & 0o777, 0o700);
  await expectStatus(api.createFolder(`${base}/bad`, '9'), 400, 'invalid mode format');
  emit('folder', { client: tag });

  // single-file upload: /files/upload (0.161) or /files/upload-v2 (0.218)
  res = await api.uploadFile(`${base}/single.txt`, new Blob(['single upload\n']));
  assert.strictEqual(res.status, 200);
  if (tag === '0218') assert.deepStrictEqual(res.data, { name: 'single.txt', path: `${base}/single.txt`, type: 'file' });
  assert.strictEqual(fs.readFileSync(`${base}/single.txt`, 'utf8'), 'single upload\n');
  emit('upload', { client: tag, route: client.singleUpload, data: res.data });

  // bulk upload with the platform FormData (known length) ...
  const form = new FormData();
  form.append('files[0].path', `${base}/bulk/a.txt`);
  form.append('files[0].file', new Blob(['alpha\nhello world\n']), `${base}/bulk/a.txt`);
  form.append('files[1].path', `${base}/bulk/b.bin`);
  form.append('files[1].file', new Blob([Buffer.from([0, 1, 2, 255])]), `${base}/bulk/b.bin`);
  res = await api.uploadFiles({ data: form });
  assert.strictEqual(res.status, 200);
  // ... and with form-data streams, as the SDK sends it (chunked, no length)
  const streamed = new FormDataStream();
  streamed.append('files[0].path', `${base}/bulk/streamed.txt`);
  streamed.append('files[0].file', Readable.from([Buffer.from('streamed '), Buffer.from('body\n')]),
    { filename: `${base}/bulk/streamed.txt` });
  res = await api.uploadFiles({ data: streamed, maxRedirects: 0 });
  assert.strictEqual(res.status, 200);
  assert.strictEqual(fs.readFileSync(`${base}/bulk/a.txt`, 'utf8'), 'alpha\nhello world\n');
  assert.deepStrictEqual([...fs.readFileSync(`${base}/bulk/b.bin`)], [0, 1, 2, 255]);
  assert.strictEqual(fs.readFileSync(`${base}/bulk/streamed.txt`, 'utf8'), 'streamed body\n');
  emit('upload-files', { client: tag, data: res.data });

  // list (the client calls /files, the spec's daemon serves /files/ too)
  res = await api.listFiles(`${base}/bulk`);
  assert.strictEqual(res.status, 200);
  assert.deepStrictEqual(res.data.map((f) => f.name), ['a.txt', 'b.bin', 'streamed.txt']);
  const a = res.data[0];
  assert.strictEqual(a.size, 18);
  assert.strictEqual(a.isDir, false);
  assert.match(a.mode, /^-[rwx-]{9}$/);
  assert.match(a.permissions, /^0[0-7]{3}$/);
  assert.match(a.owner, /^\d+$/);
  assert.match(a.modTime, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)? [+-]\d{4} \S+$/);
  assert.ok(!Number.isNaN(Date.parse(a.modifiedAt)));
  await expectStatus(api.listFiles(`${base}/nope`), 404, `open ${base}/nope: no such file or directory`);
  emit('list', { client: tag, names: res.data.map((f) => f.name) });

  // info
  res = await api.getFileInfo(`${base}/sub`);
  assert.strictEqual(res.data.name, 'sub');
  assert.strictEqual(res.data.isDir, true);
  await expectStatus(api.getFileInfo(`${base}/nope`), 404, 'no such file or directory');
  emit('info', { client: tag, info: res.data });

  // download (bytes, whole and ranged)
  res = await api.downloadFile(`${base}/bulk/b.bin`, { responseType: 'arraybuffer' });
  assert.strictEqual(res.status, 200);
  assert.deepStrictEqual([...Buffer.from(res.data)], [0, 1, 2, 255]);
  assert.strictEqual(res.headers['content-disposition'], 'attachment; filename=b.bin');
  res = await api.downloadFile(`${base}/bulk/a.txt`, { responseType: 'arraybuffer', headers: { Range: 'bytes=6-10' } });
  assert.strictEqual(res.status, 206);
  assert.strictEqual(Buffer.from(res.data).toString(), 'hello');
  await expectStatus(api.downloadFile(`${base}/sub`), 400, 'path must be a file');
  emit('download', { client: tag });

  // bulk download: one part per path, in order, filename = the requested string
  const wanted = [`${base}/bulk/a.txt`, `${base}/missing.txt`, `${base}/bulk/b.bin`, `${base}/sub`];
  res = await api.downloadFiles({ paths: wanted }, { responseType: 'arraybuffer' });
  assert.strictEqual(res.status, 200);
  const parts = parseMultipart(Buffer.from(res.data), res.headers['content-type']);
  assert.deepStrictEqual(parts.map((p) => [p.name, p.filename]),
    [['file', wanted[0]], ['error', wanted[1]], ['file', wanted[2]], ['error', wanted[3]]]);
  assert.strictEqual(parts[0].data.toString(), 'alpha\nhello world\n');
  assert.deepStrictEqual([...parts[2].data], [0, 1, 2, 255]);
  const missing = JSON.parse(parts[1].data.toString());
  assert.strictEqual(missing.statusCode, 404);
  assert.strictEqual(missing.code, 'FILE_NOT_FOUND');
  await expectStatus(api.downloadFiles({ paths: [] }), 400);
  emit('download-files', { client: tag, parts: parts.map((p) => p.name) });

  // find, search, replace
  res = await api.findInFiles(`${base}/bulk`, 'hello');
  assert.deepStrictEqual(res.data, [{ file: `${base}/bulk/a.txt`, line: 2, content: 'hello world' }]);
  res = await api.searchFiles(base, '*.txt');
  assert.deepStrictEqual(res.data.files, [`${base}/bulk/a.txt`, `${base}/bulk/streamed.txt`, `${base}/single.txt`]);
  res = await api.searchFiles(base, '*.nothing');
  assert.deepStrictEqual(res.data, { files: [] });
  res = await api.replaceInFiles({ files: [`${base}/bulk/a.txt`, `${base}/none.txt`], pattern: 'hello', newValue: 'bye' });
  assert.strictEqual(res.data.length, 2);
  assert.deepStrictEqual(res.data[0], { file: `${base}/bulk/a.txt`, success: true });
  assert.strictEqual(res.data[1].success, false);
  assert.strictEqual(res.data[1].error, `open ${base}/none.txt: no such file or directory`);
  assert.strictEqual(fs.readFileSync(`${base}/bulk/a.txt`, 'utf8'), 'alpha\nbye world\n');
  emit('find-search-replace', { client: tag });

  // move (409 when the destination exists), permissions
  res = await api.moveFile(`${base}/single.txt`, `${base}/moved.txt`);
  assert.strictEqual(res.status, 200);
  assert.ok(fs.existsSync(`${base}/moved.txt`) && !fs.existsSync(`${base}/single.txt`));
  await expectStatus(api.moveFile(`${base}/moved.txt`, `${base}/bulk/a.txt`), 409, 'destination already exists');
  await expectStatus(api.moveFile(`${base}/gone.txt`, `${base}/x.txt`), 404);
  res = await api.setFilePermissions(`${base}/moved.txt`, undefined, undefined, '600');
  assert.strictEqual(res.status, 200);
  assert.strictEqual(fs.statSync(`${base}/moved.txt`).mode & 0o777, 0o600);
  res = await api.getFileInfo(`${base}/moved.txt`);
  assert.strictEqual(res.data.permissions, '0600');
  assert.strictEqual(res.data.mode, '-rw-------');
  await expectStatus(api.setFilePermissions(`${base}/moved.txt`, 'no-such-user-xyz'), 400, 'user not found');
  emit('move-permissions', { client: tag });

  // delete: a file, a directory only with recursive
  res = await api.deleteFile(`${base}/moved.txt`);
  assert.strictEqual(res.status, 204);
  await expectStatus(api.deleteFile(`${base}/bulk`), 400, 'cannot delete directory without recursive flag');
  await expectStatus(api.deleteFile(`${base}/bulk`, false), 400);
  res = await api.deleteFile(`${base}/bulk`, true);
  assert.strictEqual(res.status, 204);
  assert.ok(!fs.existsSync(`${base}/bulk`));
  await expectStatus(api.deleteFile(`${base}/bulk`, true), 404);
  emit('delete', { client: tag });
}

// The SDKs' FileSystem classes drive bulk-upload and bulk-download through these clients.
async function exerciseSdk(tag, FileSystem, pkg, sandboxId, workDir) {
  const config = toolboxConfiguration(pkg, sandboxId);
  const fsys = new FileSystem(config, new pkg.FileSystemApi(config));
  const base = `${workDir}/sdk-${tag}`;
  await fsys.createFolder(base, '755');
  await fsys.uploadFile(Buffer.from('hello via sdk\n'), `${base}/hello.txt`);
  await fsys.uploadFiles([
    { source: Buffer.from('one'), destination: `${base}/many/one.txt` },
    { source: Buffer.from('two'), destination: `${base}/many/two.txt` },
  ]);
  const got = await fsys.downloadFile(`${base}/hello.txt`);
  assert.strictEqual(Buffer.from(got).toString(), 'hello via sdk\n');
  const results = await fsys.downloadFiles([
    { source: `${base}/many/one.txt` }, { source: `${base}/missing.txt` }, { source: `${base}/many/two.txt` },
  ]);
  assert.strictEqual(Buffer.from(results[0].result).toString(), 'one');
  assert.ok(results[1].error, 'a missing file reports an error');
  assert.strictEqual(Buffer.from(results[2].result).toString(), 'two');
  let error;
  try {
    await fsys.downloadFile(`${base}/missing.txt`);
  } catch (err) {
    error = err;
  }
  assert.ok(error, 'downloading a missing file throws');
  emit('sdk-fs', { sdk: tag, errorClass: error.constructor.name, message: error.message,
    statusCode: error.statusCode === undefined ? null : error.statusCode });
  return error;
}

run(async () => {
  const sandboxId = await createSandbox(`files-node-${process.pid}`);
  const info = new CLIENTS[0].pkg.InfoApi(toolboxConfiguration(CLIENTS[0].pkg, sandboxId));
  const workDir = (await info.getWorkDir()).data.dir;
  for (const client of CLIENTS) await exerciseClient(client, sandboxId, workDir);

  const sdk0218 = require('@daytonaio/sdk');
  const err0218 = await exerciseSdk('0218', sdk0218.FileSystem, CLIENTS[1].pkg, sandboxId, workDir);
  assert.ok(err0218 instanceof sdk0218.DaytonaNotFoundError, `0.218: ${err0218.constructor.name}`);
  assert.strictEqual(err0218.statusCode, 404);

  const sdk0161 = require('sdk0161');
  const err0161 = await exerciseSdk('0161', sdk0161.FileSystem, CLIENTS[0].pkg, sandboxId, workDir);
  assert.ok(err0161 instanceof sdk0161.DaytonaError, `0.161: ${err0161.constructor.name}`);
  assert.ok(err0161.message.includes('missing.txt'), err0161.message);
  emit('done');
});
