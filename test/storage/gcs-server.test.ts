import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { CRC32C } from '@google-cloud/storage';
import { startGcsHarness, TEST_BUCKET, type GcsHarness } from '../support/gcs-harness.ts';
import { startGcsServer, type GcsServer } from '../support/gcs-server.ts';

// The test server's own fidelity: what the GCS driver's tests rely on it
// doing the way GCS does, checked over plain HTTP.

const objectsUrl = (s: GcsServer) => `${s.url}/storage/v1/b/${TEST_BUCKET}/o`;
const objectUrl = (s: GcsServer, name: string) => `${objectsUrl(s)}/${encodeURIComponent(name)}`;
const uploadUrl = (s: GcsServer, query: string) => `${s.url}/upload/storage/v1/b/${TEST_BUCKET}/o?${query}`;

async function media(s: GcsServer, name: string, data: Buffer | string, query = ''): Promise<Response> {
  return fetch(uploadUrl(s, `uploadType=media&name=${encodeURIComponent(name)}${query}`), { method: 'POST', body: data });
}

async function reason(res: Response): Promise<string | undefined> {
  const body = (await res.json()) as { error?: { errors?: { reason?: string }[] } };
  return body.error?.errors?.[0]?.reason;
}

describe('gcs test server', () => {
  let s: GcsServer;

  before(async () => {
    s = await startGcsServer({ buckets: [TEST_BUCKET] });
  });

  after(async () => {
    await s?.stop();
  });

  test('a resumable upload cut off mid-request resumes from the bytes the server kept', async () => {
    const data = randomBytes(1024 * 1024 + 123);
    const session = await fetch(uploadUrl(s, 'uploadType=resumable&name=resumed'), {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Upload-Content-Length': String(data.length) },
      body: JSON.stringify({ metadata: { k: 'v' } }),
    });
    assert.equal(session.status, 200);
    const location = session.headers.get('location')!;

    // A chunk the server takes in full: 308, and Range says what it holds.
    const first = await fetch(location, { method: 'PUT', headers: { 'Content-Range': `bytes 0-262143/*` }, body: data.subarray(0, 262144) });
    assert.equal(first.status, 308);
    assert.equal(first.headers.get('range'), 'bytes=0-262143');

    // A request that dies after 300000 more bytes, with the rest still promised.
    const url = new URL(location);
    await new Promise<void>((resolve, reject) => {
      const socket = connect(Number(url.port), url.hostname, () => {
        socket.write(`PUT ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\nContent-Range: bytes 262144-${data.length - 1}/${data.length}\r\nContent-Length: ${data.length - 262144}\r\n\r\n`);
        socket.write(data.subarray(262144, 562144), () => setTimeout(() => socket.destroy(), 100));
      });
      socket.on('close', () => resolve());
      socket.on('error', reject);
    });

    let status: Response | undefined;
    for (let tries = 0; tries < 50; tries++) {
      status = await fetch(location, { method: 'PUT', headers: { 'Content-Range': 'bytes */*' } });
      if (status.status !== 503) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(status?.status, 308);
    // The server keeps what it wrote before the connection died: at least the first chunk, at most all that was sent.
    const kept = Number(/^bytes=0-(\d+)$/.exec(status?.headers.get('range') ?? '')?.[1]) + 1;
    assert.ok(kept >= 262144 && kept <= 562144, `kept ${kept}`);

    const rest = await fetch(location, { method: 'PUT', headers: { 'Content-Range': `bytes ${kept}-${data.length - 1}/${data.length}` }, body: data.subarray(kept) });
    assert.equal(rest.status, 200);
    const object = (await rest.json()) as { size: string; md5Hash: string; metadata: Record<string, string> };
    assert.equal(object.size, String(data.length));
    assert.equal(object.md5Hash, createHash('md5').update(data).digest('base64'));
    assert.deepEqual(object.metadata, { k: 'v' });
    const got = Buffer.from(await (await fetch(`${objectUrl(s, 'resumed')}?alt=media`)).arrayBuffer());
    assert.ok(got.equals(data));
  });

  test('preconditions answer 412 conditionNotMet, and generations increase with each write', async () => {
    const created = (await (await media(s, 'pre', 'one', '&ifGenerationMatch=0')).json()) as { generation: string };
    const again = await media(s, 'pre', 'two', '&ifGenerationMatch=0');
    assert.equal(again.status, 412);
    assert.equal(await reason(again), 'conditionNotMet');
    const replaced = (await (await media(s, 'pre', 'three', `&ifGenerationMatch=${created.generation}`)).json()) as { generation: string };
    assert.ok(BigInt(replaced.generation) > BigInt(created.generation));
    assert.equal((await media(s, 'pre', 'four', `&ifGenerationMatch=${created.generation}`)).status, 412);
    assert.equal((await fetch(`${objectUrl(s, 'pre')}?ifMetagenerationMatch=7`)).status, 412);
    assert.equal((await fetch(`${objectUrl(s, 'pre')}?ifGenerationNotMatch=${replaced.generation}`)).status, 412);
    // An old generation is gone once replaced.
    assert.equal((await fetch(`${objectUrl(s, 'pre')}?alt=media&generation=${created.generation}`)).status, 404);
    assert.equal(await (await fetch(`${objectUrl(s, 'pre')}?alt=media`)).text(), 'three');
  });

  test('objects carry the MD5 and CRC32C the client library computes, in the resource and in x-goog-hash', async () => {
    const data = randomBytes(100_003);
    const object = (await (await media(s, 'hashed', data)).json()) as { md5Hash: string; crc32c: string };
    const crc = new CRC32C();
    crc.update(data);
    assert.equal(object.crc32c, crc.toString());
    assert.equal(object.md5Hash, createHash('md5').update(data).digest('base64'));
    const download = await fetch(`${objectUrl(s, 'hashed')}?alt=media`);
    assert.equal(download.headers.get('x-goog-hash'), `crc32c=${object.crc32c},md5=${object.md5Hash}`);
    await download.arrayBuffer();
  });

  test('eight racing writers with ifGenerationMatch=0: exactly one is stored', async () => {
    const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => media(s, 'raced', `writer ${i}`.repeat(10_000), '&ifGenerationMatch=0')));
    assert.deepEqual(answers.map((a) => a.status).sort(), [200, 412, 412, 412, 412, 412, 412, 412]);
  });

  test('a multipart upload whose MD5 does not match its bytes stores nothing', async () => {
    const boundary = 'xyz';
    const body = `--${boundary}\r\nContent-Type: application/json\r\n\r\n${JSON.stringify({ name: 'md5', md5Hash: createHash('md5').update('other').digest('base64') })}\r\n--${boundary}\r\nContent-Type: text/plain\r\n\r\nhello\r\n--${boundary}--`;
    const res = await fetch(uploadUrl(s, 'uploadType=multipart'), { method: 'POST', headers: { 'Content-Type': `multipart/related; boundary=${boundary}` }, body });
    assert.equal(res.status, 400);
    assert.equal((await fetch(objectUrl(s, 'md5'))).status, 404);
  });

  test('ranges: 206 with Content-Range, clamped ends, suffixes, and 416 past the end', async () => {
    await media(s, 'ranged', '0123456789');
    const get = (range: string) => fetch(`${objectUrl(s, 'ranged')}?alt=media`, { headers: { Range: range } });
    const mid = await get('bytes=2-4');
    assert.equal(mid.status, 206);
    assert.equal(mid.headers.get('content-range'), 'bytes 2-4/10');
    assert.equal(await mid.text(), '234');
    assert.equal(await (await get('bytes=7-100')).text(), '789');
    assert.equal(await (await get('bytes=-3')).text(), '789');
    const past = await get('bytes=10-');
    assert.equal(past.status, 416);
    assert.equal(await reason(past), 'requestedRangeNotSatisfiable');
  });

  test('lists: lexical order, prefixes with a delimiter, and page tokens', async () => {
    for (const name of ['l/b', 'l/a', 'l/d/1', 'l/d/2', 'l/c', 'lz']) await media(s, name, name);
    const page = async (query: string) => (await (await fetch(`${objectsUrl(s)}?${query}`)).json()) as { items?: { name: string }[]; prefixes?: string[]; nextPageToken?: string };
    const all = await page('prefix=l/');
    assert.deepEqual(all.items?.map((i) => i.name), ['l/a', 'l/b', 'l/c', 'l/d/1', 'l/d/2']);
    const shallow = await page('prefix=l/&delimiter=/');
    assert.deepEqual(shallow.items?.map((i) => i.name), ['l/a', 'l/b', 'l/c']);
    assert.deepEqual(shallow.prefixes, ['l/d/']);
    const names: string[] = [];
    let token = '';
    let pages = 0;
    do {
      const p = await page(`prefix=l/&maxResults=2${token ? `&pageToken=${token}` : ''}`);
      names.push(...(p.items ?? []).map((i) => i.name));
      token = p.nextPageToken ?? '';
      pages++;
    } while (token);
    assert.deepEqual(names, ['l/a', 'l/b', 'l/c', 'l/d/1', 'l/d/2']);
    assert.equal(pages, 3);
  });

  test('batch deletes answer each call in its own part, matched by Content-ID', async () => {
    await media(s, 'batch/1', '1');
    const boundary = 'b0undary';
    const part = (id: number, name: string) =>
      `--${boundary}\r\nContent-Type: application/http\r\nContent-ID: <${id}>\r\n\r\nDELETE /storage/v1/b/${TEST_BUCKET}/o/${encodeURIComponent(name)} HTTP/1.1\r\n\r\n`;
    const res = await fetch(`${s.url}/batch/storage/v1`, {
      method: 'POST',
      headers: { 'Content-Type': `multipart/mixed; boundary=${boundary}` },
      body: `${part(1, 'batch/1')}\r\n${part(2, 'batch/absent')}\r\n--${boundary}--\r\n`,
    });
    assert.equal(res.status, 200);
    const text = await res.text();
    assert.match(text, /Content-ID: <response-1>\r\n\r\nHTTP\/1\.1 204/);
    assert.match(text, /Content-ID: <response-2>\r\n\r\nHTTP\/1\.1 404/);
    assert.equal((await fetch(objectUrl(s, 'batch/1'))).status, 404);
  });

  test('a missing bucket and a missing object are told apart by message, as GCS does', async () => {
    const bucket = (await (await fetch(`${s.url}/storage/v1/b/nope/o/x`)).json()) as { error: { message: string } };
    const object = (await (await fetch(objectUrl(s, 'nope'))).json()) as { error: { message: string } };
    assert.match(bucket.error.message, /bucket does not exist/);
    assert.match(object.error.message, /No such object/);
  });
});

describe('gcs test server auth', () => {
  let h: GcsHarness;

  before(async () => {
    h = await startGcsHarness();
  });

  after(async () => {
    await h?.stop();
  });

  test('requests without a token, or with one it did not issue, get 401', async () => {
    const none = await fetch(objectsUrl(h.server));
    assert.equal(none.status, 401);
    assert.equal(await reason(none), 'required');
    const forged = await fetch(objectsUrl(h.server), { headers: { Authorization: 'Bearer ya29.forged' } });
    assert.equal(forged.status, 401);
    assert.equal(await reason(forged), 'authError');
  });

  test('the token endpoint trades a known refresh token for a working access token, and refuses others', async () => {
    const client = JSON.parse(await (await import('node:fs/promises')).readFile(h.authorizedUserFile, 'utf8')) as { client_id: string; client_secret: string; refresh_token: string };
    const basic = `Basic ${Buffer.from(`${client.client_id}:${client.client_secret}`).toString('base64')}`;
    const trade = (refreshToken: string) =>
      fetch(h.server.tokenUrl, {
        method: 'POST',
        headers: { Authorization: basic, 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken }).toString(),
      });
    const good = (await (await trade(client.refresh_token)).json()) as { access_token: string; expires_in: number; token_type: string };
    assert.equal(good.token_type, 'Bearer');
    assert.ok(good.expires_in > 0);
    assert.equal((await fetch(objectsUrl(h.server), { headers: { Authorization: `Bearer ${good.access_token}` } })).status, 200);
    const bad = await trade('not-the-token');
    assert.equal(bad.status, 400);
    assert.equal(((await bad.json()) as { error: string }).error, 'invalid_grant');
  });
});
