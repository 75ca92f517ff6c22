// A throwaway gpg home for interop tests with the system's gpg (2.2 on
// Debian 12): import keys, encrypt and decrypt files, then stop the agent
// gpg started and delete the home.

import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export class GpgHome {
  readonly dir: string;

  private constructor(dir: string) {
    this.dir = dir;
  }

  static async create(): Promise<GpgHome> {
    // Short path: gpg-agent's socket path must fit in a sockaddr_un.
    return new GpgHome(await mkdtemp(join(tmpdir(), 'wsgpg-')));
  }

  async importKey(armored: string, passphrase?: string): Promise<void> {
    await this.#gpg(['--import'], armored, passphrase);
  }

  async decryptFile(input: string, output: string, passphrase?: string): Promise<void> {
    await this.#gpg(['--output', output, '--decrypt', input], undefined, passphrase);
  }

  /** Encrypts for `recipient` the way a user restoring by hand would, minus OpenPGP compression. */
  async encryptFile(input: string, output: string, recipient: string): Promise<void> {
    await this.#gpg(['--trust-model', 'always', '--compress-algo', 'none', '--recipient', recipient, '--output', output, '--encrypt', input]);
  }

  async close(): Promise<void> {
    await run('gpgconf', ['--kill', 'gpg-agent'], { env: { ...process.env, GNUPGHOME: this.dir } }).catch(() => undefined);
    await rm(this.dir, { recursive: true, force: true });
  }

  async #gpg(args: string[], stdin?: string, passphrase?: string): Promise<void> {
    const auth = passphrase === undefined ? [] : ['--pinentry-mode', 'loopback', '--passphrase', passphrase];
    const child = execFile('gpg', ['--batch', '--yes', '--quiet', ...auth, ...args], {
      env: { ...process.env, GNUPGHOME: this.dir },
      maxBuffer: 16 << 20,
    });
    const done = new Promise<void>((resolve, reject) => {
      let stderr = '';
      child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('error', reject);
      child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`gpg ${args.join(' ')} exited with ${code}: ${stderr}`))));
    });
    child.stdin?.end(stdin ?? '');
    await done;
  }
}
