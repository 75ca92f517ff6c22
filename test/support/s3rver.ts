import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { constants } from 'node:fs';
import { access, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { S3StoreConfig } from '../../agent/config/types.ts';
import { startBlackhole } from './blackhole.ts';

// An S3 emulator for tests: s3rver in a child process (see
// s3-emulator-process.ts for what it adds to s3rver), on a free loopback
// port, over a temporary directory.

/** s3rver's one built-in account; any other key id is refused with InvalidAccessKeyId. */
const ACCESS_KEY_ID = 'S3RVER';
const SECRET_ACCESS_KEY = 'S3RVER';
const STARTUP_TIMEOUT_MS = 15_000;

export interface S3Emulator {
  endpoint: string;
  bucket: string;
  /** A store config on the emulator, under prefix. */
  config(prefix: string, overrides?: Partial<S3StoreConfig>): S3StoreConfig;
  /** The right access key id with the wrong secret: S3 answers SignatureDoesNotMatch. */
  badCredentials(prefix: string): S3StoreConfig;
  /** A config whose endpoint accepts connections and never answers. */
  unresponsive(): Promise<{ config: S3StoreConfig; close(): Promise<void> }>;
  /** Starts an outage: every request fails with 503 ServiceUnavailable until resume(). */
  pause(): Promise<void>;
  resume(): Promise<void>;
  stop(): Promise<void>;
}

export function s3Config(endpoint: string, bucket: string, prefix: string, overrides: Partial<S3StoreConfig> = {}): S3StoreConfig {
  return {
    kind: 's3',
    bucket,
    prefix,
    region: 'us-east-1',
    endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: ACCESS_KEY_ID, secretAccessKey: SECRET_ACCESS_KEY },
    // s3rver stores aws-chunked framing inside the object when the SDK adds
    // its default checksums, and answers 200: silent corruption.
    checksums: 'when_required',
    ...overrides,
  };
}

export async function startS3rver(bucket = 'walship-test'): Promise<S3Emulator> {
  const directory = await mkdtemp(join(await fastTempRoot(), 'walship-s3rver-'));
  const child: ChildProcess = fork(
    new URL('./s3-emulator-process.ts', import.meta.url),
    [directory, bucket, ACCESS_KEY_ID, SECRET_ACCESS_KEY],
    { execArgv: ['--openssl-legacy-provider'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] },
  );
  let port: number;
  try {
    port = await waitForPort(child);
  } catch (err) {
    child.kill('SIGKILL');
    await rm(directory, { recursive: true, force: true });
    throw err;
  }
  const endpoint = `http://127.0.0.1:${port}`;
  let lastId = 0;
  const setOutage = (outage: boolean) =>
    new Promise<void>((resolve, reject) => {
      const id = ++lastId;
      const onMessage = (m: { id?: number }) => {
        if (m.id !== id) return;
        child.off('message', onMessage);
        resolve();
      };
      child.on('message', onMessage);
      child.send({ id, outage }, (err) => err && reject(err));
    });

  return {
    endpoint,
    bucket,
    config: (prefix, overrides) => s3Config(endpoint, bucket, prefix, overrides),
    badCredentials: (prefix) =>
      s3Config(endpoint, bucket, prefix, { credentials: { accessKeyId: ACCESS_KEY_ID, secretAccessKey: 'not-the-secret' } }),
    async unresponsive() {
      const hole = await startBlackhole();
      return { config: s3Config(hole.url, bucket, 'unresponsive'), close: hole.close };
    },
    pause: () => setOutage(true),
    resume: () => setOutage(false),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = once(child, 'exit');
        child.disconnect();
        const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(timer);
      }
      await rm(directory, { recursive: true, force: true });
    },
  };
}

/**
 * tmpfs when there is one. This machine's disk writes at about 340 MB/s, and
 * s3rver writes a big object twice (parts, then the assembled object), which
 * made completing a 1 GiB upload take longer than the contract's idle deadline.
 */
async function fastTempRoot(): Promise<string> {
  try {
    await access('/dev/shm', constants.W_OK);
    return '/dev/shm';
  } catch {
    return tmpdir();
  }
}

function waitForPort(child: ChildProcess): Promise<number> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('s3rver did not start in time')), STARTUP_TIMEOUT_MS);
    child.once('message', (m: { port?: number }) => {
      clearTimeout(timer);
      if (typeof m.port === 'number') resolve(m.port);
      else reject(new Error(`s3rver: unexpected message ${JSON.stringify(m)}`));
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`s3rver exited during startup (${code ?? signal})`));
    });
  });
}
