import { asWalshipError, formatErrorLine, WalshipError } from '../../errors.ts';
import type { SpoolRequest, SpoolResponse } from './server.ts';

// The two file formats the client and the agent exchange.
//   request: the op, then each argument, one per line, each line ending in
//            a newline (the client refuses arguments holding a newline).
//   answer:  the exit code on the first line, then an optional message
//            that the client copies to stderr, i.e. PostgreSQL's log.

const MAX_REQUEST_BYTES = 64 * 1024;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Parses a request file; a malformed one throws a USAGE error (exit 64). */
export function parseRequest(id: string, bytes: Uint8Array): SpoolRequest {
  const malformed = (why: string) => new WalshipError('USAGE', `malformed walship spool request ${id}: ${why}`);
  if (bytes.length === 0) throw malformed('the file is empty');
  if (bytes.length > MAX_REQUEST_BYTES) throw malformed(`larger than ${MAX_REQUEST_BYTES} bytes`);
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw malformed('not UTF-8 text');
  }
  if (!text.endsWith('\n')) throw malformed('the last line has no newline (incomplete request)');
  if (text.includes('\0')) throw malformed('it contains a NUL byte');
  const [op = '', ...args] = text.slice(0, -1).split('\n');
  if (op === '') throw malformed('no operation on the first line');
  if (args.includes('')) throw malformed('an argument is empty');
  return { id, op, args };
}

export function formatAnswer(response: SpoolResponse): string {
  const message = response.message ?? '';
  return `${response.exitCode}\n${message === '' || message.endsWith('\n') ? message : `${message}\n`}`;
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
