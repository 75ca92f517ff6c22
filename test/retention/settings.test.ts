import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { formatRetentionDuration, parseRetentionDuration } from '../../agent/backup/retention-duration.ts';
import { loadConfig } from '../../agent/config/load.ts';
import { isWalshipError } from '../../agent/errors.ts';

describe('retention settings', () => {
  test('durations in weeks, days, hours, minutes and seconds', () => {
    assert.equal(parseRetentionDuration('7d'), 7 * 86_400_000);
    assert.equal(parseRetentionDuration('36h'), 36 * 3_600_000);
    assert.equal(parseRetentionDuration('2w'), 14 * 86_400_000);
    assert.equal(parseRetentionDuration(' 1D12h '), 36 * 3_600_000);
    assert.equal(parseRetentionDuration('1.5d'), 36 * 3_600_000);
    for (const bad of ['', '7', 'd', '0d', '7x', '7d-1h', '-7d']) assert.equal(parseRetentionDuration(bad), undefined, bad);
    assert.equal(formatRetentionDuration(36 * 3_600_000), '1d12h');
    assert.equal(formatRetentionDuration(6 * 3_600_000), '6h');
  });

  test('WALSHIP_RETENTION_FULL and WALSHIP_RETENTION_WINDOW', async () => {
    assert.deepEqual((await loadConfig({ env: {} })).config.retention, { full: 7, windowMs: undefined });
    assert.deepEqual((await loadConfig({ env: { WALSHIP_RETENTION_FULL: '3', WALSHIP_RETENTION_WINDOW: '7d' } })).config.retention, { full: 3, windowMs: 7 * 86_400_000 });
    assert.equal((await loadConfig({ env: { WALSHIP_RETENTION_FULL: '0' } })).config.retention.full, 0);
    for (const [name, value] of [['WALSHIP_RETENTION_WINDOW', '7'], ['WALSHIP_RETENTION_FULL', '-1']] as const) {
      await assert.rejects(loadConfig({ env: { [name]: value } }), (e: unknown) => isWalshipError(e, 'CONFIG_INVALID') && e.message.startsWith(`${name} (from environment)`));
    }
  });
});
