import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { DEFAULT_REGION, regionProvider } from '../../agent/storage/s3/region.ts';
import { isWalshipError } from '../../agent/errors.ts';

// Finding the bucket's region when AWS_REGION is unset. s3rver has no
// regions, so a tiny HTTP server answers as S3 does: HeadBucket in the wrong
// region is a 301 naming the right one in x-amz-bucket-region. The clients
// are the real SDK's; the server is the only stand-in.

interface Seen {
  method: string;
  url: string;
  authorization: string;
}

describe('the S3 region, when AWS_REGION is unset', () => {
  let server: Server;
  let endpoint: string;
  const seen: Seen[] = [];
  /** How the server answers HeadBucket, by bucket. */
  const answers: Record<string, { status: number; region?: string }> = {
    'in-paris': { status: 301, region: 'eu-west-3' },
    forbidden: { status: 403, region: 'ap-south-1' },
    'no-header': { status: 404 },
  };

  before(async () => {
    server = createServer((req: IncomingMessage, res: ServerResponse) => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', authorization: String(req.headers.authorization ?? '') });
      const [bucket, key] = (req.url ?? '/').slice(1).split('?')[0]!.split('/');
      const answer = answers[bucket!];
      if (!key && answer !== undefined) {
        res.writeHead(answer.status, answer.region === undefined ? {} : { 'x-amz-bucket-region': answer.region });
      } else {
        res.writeHead(200, { 'content-length': '3', etag: '"x"', 'last-modified': new Date().toUTCString() });
      }
      res.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const client = (region: string | (() => Promise<string>)) =>
    new S3Client({ region, endpoint, forcePathStyle: true, credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'secret' }, maxAttempts: 1 });
  const scope = (s: Seen) => /Credential=AKIDTEST\/\d{8}\/([^/]+)\/s3\//.exec(s.authorization)?.[1];

  test('asks HeadBucket once, then signs every request for the region it names', async () => {
    seen.length = 0;
    // The store has no AWS_ENDPOINT (real S3); the question goes to the test server through the bootstrap client.
    const s3 = client(regionProvider({ bucket: 'in-paris' }, () => client(DEFAULT_REGION)));
    await s3.send(new HeadObjectCommand({ Bucket: 'in-paris', Key: 'wal_005/a' }));
    await s3.send(new HeadObjectCommand({ Bucket: 'in-paris', Key: 'wal_005/b' }));
    const isHeadBucket = (s: Seen) => /^\/in-paris\/?(\?|$)/.test(s.url);
    const heads = seen.filter(isHeadBucket);
    assert.equal(heads.length, 1, 'one HeadBucket for the life of the driver');
    assert.equal(scope(heads[0]!), DEFAULT_REGION, 'the question is asked in the default region');
    const objects = seen.filter((s) => !isHeadBucket(s));
    assert.deepEqual(objects.map(scope), ['eu-west-3', 'eu-west-3']);
    s3.destroy();
  });

  test('a 403 names the region too', async () => {
    const provide = regionProvider({ bucket: 'forbidden' }, () => client(DEFAULT_REGION));
    assert.equal(typeof provide, 'function');
    assert.equal(await (provide as () => Promise<string>)(), 'ap-south-1');
  });

  test('an answer without the header is an error that says to set AWS_REGION, and the next request asks again', async () => {
    seen.length = 0;
    const provide = regionProvider({ bucket: 'no-header' }, () => client(DEFAULT_REGION)) as () => Promise<string>;
    for (let i = 0; i < 2; i++) {
      await assert.rejects(provide(), (err: unknown) => isWalshipError(err, 'STORE_REQUEST_FAILED') && /no-header.*set AWS_REGION/.test(err.message));
    }
    assert.equal(seen.length, 2);
  });

  test('AWS_REGION wins, and an S3-compatible endpoint keeps the default without asking', () => {
    const never = () => assert.fail('no question asked');
    assert.equal(regionProvider({ bucket: 'b', region: 'eu-north-1' }, never), 'eu-north-1');
    assert.equal(regionProvider({ bucket: 'b', endpoint: 'http://minio:9000' }, never), DEFAULT_REGION);
  });
});
