import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_ANSWER_BYTES } from '../../agent/daemon/spool/deliver.ts';
import { formatAnswer, isCompleteRequest, parseRequest } from '../../agent/daemon/spool/wire.ts';

test('an answer is the code, the number of message lines, then the lines', () => {
  assert.equal(formatAnswer({ exitCode: 0 }, MAX_ANSWER_BYTES).toString(), '0\n0\n');
  assert.equal(formatAnswer({ exitCode: 74, message: 'one\ntwo\n' }, MAX_ANSWER_BYTES).toString(), '74\n2\none\ntwo\n');
});

test('a message too long for one pipe write is cut, keeping its start and saying so', () => {
  const message = `walship: STORE_UNREACHABLE: ${'x'.repeat(3000)}\n${'é'.repeat(2000)}`;
  const answer = formatAnswer({ exitCode: 75, message }, MAX_ANSWER_BYTES);
  assert.ok(answer.length <= MAX_ANSWER_BYTES, `${answer.length} bytes`);
  const [code, count, ...lines] = answer.toString('utf8').split('\n');
  assert.equal(code, '75');
  assert.equal(lines.pop(), '', 'ends with a newline');
  assert.equal(Number(count), lines.length);
  assert.ok(lines[0]!.startsWith('walship: STORE_UNREACHABLE: xxx'));
  assert.match(lines.at(-1)!, /cut: the whole message is in the agent's log/);
  assert.ok(!answer.toString('utf8').includes('\uFFFD'), 'no character cut in half');
});

test('a request is complete once it ends with an empty line', () => {
  assert.equal(isCompleteRequest(Buffer.from('wal-push\n/x\n')), false);
  assert.equal(isCompleteRequest(Buffer.from('wal-push\n/x\n\n')), true);
  assert.deepEqual(parseRequest('7', Buffer.from('wal-fetch\nA\n/b\n\n')), { id: '7', op: 'wal-fetch', args: ['A', '/b'] });
  assert.throws(() => parseRequest('7', Buffer.from('wal-push\n/x\n')), /incomplete request/);
});
