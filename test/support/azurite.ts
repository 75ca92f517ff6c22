import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlobServiceClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import type { AzureStoreConfig } from '../../agent/config/types.ts';
import { startBlackhole } from './blackhole.ts';
import { freePort } from './ports.ts';

// An Azure Blob emulator for tests: azurite-blob in a child process on a
// free loopback port, persisting to a temporary directory (in-memory mode
// grew to 610 MB RSS).

/** Azurite's well-known development account. */
export const AZURITE_ACCOUNT = 'devstoreaccount1';
export const AZURITE_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';
/** A well-formed key that is not the account's: requests are signed, and refused. */
const WRONG_KEY = Buffer.alloc(64, 7).toString('base64');
const STARTUP_TIMEOUT_MS = 20_000;

export interface AzureEmulator {
  /** Blob service URL, account included: http://127.0.0.1:N/devstoreaccount1. */
  endpoint: string;
  container: string;
  config(prefix: string, overrides?: Partial<AzureStoreConfig>): AzureStoreConfig;
  connectionString(): string;
  badCredentials(prefix: string): AzureStoreConfig;
  unresponsive(): Promise<{ config: AzureStoreConfig; close(): Promise<void> }>;
  stop(): Promise<void>;
}

export function azureConfig(endpoint: string, container: string, prefix: string, overrides: Partial<AzureStoreConfig> = {}): AzureStoreConfig {
  return { kind: 'azure', container, prefix, account: AZURITE_ACCOUNT, accessKey: AZURITE_KEY, endpoint, ...overrides };
}

export async function startAzurite(container = 'walship-test'): Promise<AzureEmulator> {
  const location = await mkdtemp(join(tmpdir(), 'walship-azurite-'));
  const port = await freePort();
  const main = createRequire(import.meta.url).resolve('azurite/dist/src/blob/main.js');
  const child = spawn(
    process.execPath,
    [main, '--blobHost', '127.0.0.1', '--blobPort', String(port), '--skipApiVersionCheck', '--disableTelemetry', '--location', location, '--silent'],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  // A test run that dies without calling stop() must not leave the emulator behind.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);

  const endpoint = `http://127.0.0.1:${port}/${AZURITE_ACCOUNT}`;
  try {
    await waitForListening(child);
    const service = new BlobServiceClient(endpoint, new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY));
    await service.getContainerClient(container).create();
  } catch (err) {
    child.kill('SIGKILL');
    process.removeListener('exit', killOnExit);
    await rm(location, { recursive: true, force: true });
    throw err;
  }

  return {
    endpoint,
    container,
    config: (prefix, overrides) => azureConfig(endpoint, container, prefix, overrides),
    connectionString: () =>
      `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};BlobEndpoint=${endpoint};`,
    badCredentials: (prefix) => azureConfig(endpoint, container, prefix, { accessKey: WRONG_KEY }),
    async unresponsive() {
      const hole = await startBlackhole();
      return { config: azureConfig(`${hole.url}/${AZURITE_ACCOUNT}`, container, 'unresponsive'), close: hole.close };
    },
    async stop() {
      process.removeListener('exit', killOnExit);
      if (child.exitCode === null && child.signalCode === null) {
        const exited = once(child, 'exit');
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(timer);
      }
      await rm(location, { recursive: true, force: true });
    },
  };
}

/** Azurite prints "successfully listens on ..." once its HTTP server is up. */
function waitForListening(child: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => reject(new Error(`azurite did not start in time: ${output}`)), STARTUP_TIMEOUT_MS);
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (text: string) => {
      output += text;
      if (output.includes('successfully listens')) {
        clearTimeout(timer);
        // Keep draining, so a chatty emulator never blocks on a full pipe.
        child.stdout!.resume();
        resolve();
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`azurite exited during startup (${code ?? signal}): ${output}`));
    });
  });
}
