import { readFile, writeFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { SpoolHandler, SpoolRequest, SpoolResponse } from '../../agent/daemon/spool/server.ts';
import { WalshipError } from '../../agent/errors.ts';

// A stand-in for the agent's WAL handler, scripted by the files it is given:
//   wal-push <path>: a file holding a JSON {exitCode, message?, delayMs?}
//     is answered with exactly that; any other file is "archived" under its
//     base name and answered with 0.
//   wal-fetch <name> <dest>: an archived name is written to dest (0); THROW
//     throws a plain Error, BADNAME a WalshipError; anything else is 74.

export interface ScriptedHandler {
  handler: SpoolHandler;
  requests: SpoolRequest[];
  archive: Map<string, Buffer>;
  /** Most requests ever handled at the same moment. */
  readonly peakConcurrency: number;
}

interface Scripted extends SpoolResponse {
  delayMs?: number;
}

export function scriptedHandler(): ScriptedHandler {
  const requests: SpoolRequest[] = [];
  const archive = new Map<string, Buffer>();
  let running = 0;
  let peak = 0;

  async function handle(req: SpoolRequest): Promise<SpoolResponse> {
    const [first = '', second = ''] = req.args;
    if (req.op === 'wal-push') {
      const content = await readFile(first);
      const script = asScript(content);
      if (script === undefined) {
        archive.set(basename(first), content);
        return { exitCode: 0 };
      }
      if (script.delayMs) await sleep(script.delayMs);
      return { exitCode: script.exitCode, ...(script.message === undefined ? {} : { message: script.message }) };
    }
    if (req.op === 'wal-fetch') {
      if (first === 'THROW') throw new Error('the handler blew up');
      if (first === 'BADNAME') throw new WalshipError('WAL_BAD_NAME', `${first} is not a WAL file name`);
      const content = archive.get(first);
      if (content === undefined) return { exitCode: 74, message: `walship: ${first} is not in the archive` };
      await writeFile(second, content);
      return { exitCode: 0 };
    }
    return { exitCode: 64, message: `unknown op ${req.op}` };
  }

  return {
    requests,
    archive,
    get peakConcurrency() {
      return peak;
    },
    async handler(req) {
      requests.push(req);
      running++;
      peak = Math.max(peak, running);
      try {
        return await handle(req);
      } finally {
        running--;
      }
    },
  };
}

function asScript(content: Buffer): Scripted | undefined {
  try {
    const value = JSON.parse(content.toString()) as unknown;
    return typeof value === 'object' && value !== null && 'exitCode' in value ? (value as Scripted) : undefined;
  } catch {
    return undefined;
  }
}
