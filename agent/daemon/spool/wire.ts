import { asWalshipError, formatErrorLine, WalshipError } from '../../errors.ts';
import type { SpoolRequest, SpoolResponse } from './server.ts';

// The two formats the client and the agent exchange.
//   request: the op, then each argument, one per line, then an empty line
//            that marks it complete (the client refuses empty arguments and
//            arguments holding a newline). The client writes it straight
//            into its final name, so the agent may read it half written.
//   answer:  the exit code on the first line, the number of message lines
//            on the second, then that many lines, which the client copies
//            to stderr, i.e. PostgreSQL's log. It goes through a pipe in one
//            write, so it is cut to fit.

const MAX_REQUEST_BYTES = 64 * 1024;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Whether the client has finished writing the request: it ends with an empty line. */
export function isCompleteRequest(bytes: Uint8Array): boolean {
  const n = bytes.length;
  return n > MAX_REQUEST_BYTES || (n >= 2 && bytes[n - 1] === 0x0a && bytes[n - 2] === 0x0a);
}

/** Parses a request file; a malformed one throws a USAGE error (exit 64). */
export function parseRequest(id: string, bytes: Uint8Array): SpoolRequest {
  const malformed = (why: string) => new WalshipError('USAGE', `malformed walship spool request ${id}: ${why}`);
  if (bytes.length === 0) throw malformed('the file is empty');
  if (bytes.length > MAX_REQUEST_BYTES) throw malformed(`larger than ${MAX_REQUEST_BYTES} bytes`);
  if (!isCompleteRequest(bytes)) throw malformed('it does not end with an empty line (incomplete request)');
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw malformed('not UTF-8 text');
  }
  if (text.includes('\0')) throw malformed('it contains a NUL byte');
  const [op = '', ...args] = text.slice(0, -2).split('\n');
  if (op === '') throw malformed('no operation on the first line');
  if (args.includes('')) throw malformed('an argument is empty');
  return { id, op, args };
}

export function formatAnswer(response: SpoolResponse, maxBytes: number): Buffer {
  const message = (response.message ?? '').replace(/\n$/, '');
  const lines = message === '' ? [] : message.split('\n');
  const format = (kept: string[]) => Buffer.from([String(response.exitCode), String(kept.length), ...kept].map((l) => `${l}\n`).join(''));
  let answer = format(lines);
  if (answer.length <= maxBytes) return answer;
  // Too long for one pipe write: keep the start, which names the error, and say so.
  const cut = '[... cut: the whole message is in the agent\'s log]';
  const room = maxBytes - format([cut]).length - 16;
  const kept = Buffer.from(lines.join('\n')).subarray(0, Math.max(0, room)).toString('utf8').replace(/\uFFFD$/, '');
  answer = format([...kept.split('\n'), cut]);
  return answer;
}

/** The answer for anything thrown: a WalshipError's exit code, else 70, with the error's message. */
export function answerForError(err: unknown): SpoolResponse {
  const error = asWalshipError(err);
  return { exitCode: error.exitCode, message: formatErrorLine(error) };
}

/** Guards the client against a handler's answer that is not a valid exit status and message. */
export function checkedAnswer(response: SpoolResponse): SpoolResponse {
  const code = response?.exitCode;
  const message = response?.message;
  if (!Number.isInteger(code) || code < 0 || code > 255) {
    return answerForError(new WalshipError('INTERNAL', `the request handler answered with an invalid exit code ${JSON.stringify(code)}`));
  }
  if (message !== undefined && typeof message !== 'string') {
    return answerForError(new WalshipError('INTERNAL', `the request handler answered exit code ${code} with a message that is not a string`));
  }
  return response;
}
