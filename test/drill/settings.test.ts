import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { runWalship } from '../support/cli.ts';

// The restore drill's settings: bad values are refused when the
// configuration loads, naming the variable and what it takes; good ones
// show in `walship config show`.

describe('restore drill settings', () => {
  const bad: [string, string, RegExp][] = [
    ['WALSHIP_DRILL_SCHEDULE', 'daily', /WALSHIP_DRILL_SCHEDULE.*a cron expression of 5 fields/],
    ['WALSHIP_DRILL_DISK_BUDGET', '-5', /WALSHIP_DRILL_DISK_BUDGET/],
    ['WALSHIP_DRILL_DISK_BUDGET', '10GB', /WALSHIP_DRILL_DISK_BUDGET/],
    ['WALSHIP_DRILL_TIMEOUT', '0s', /WALSHIP_DRILL_TIMEOUT.*a duration/],
    ['WALSHIP_DRILL_USER', '', /WALSHIP_DRILL_USER/],
  ];
  for (const [name, value, message] of bad) {
    test(`${name}=${JSON.stringify(value)} is refused, naming it`, async () => {
      const r = await runWalship(['config', 'show'], { WALG_FILE_PREFIX: '/tmp/x', [name]: value });
      assert.equal(r.code, 78, r.stderr);
      assert.match(r.stderr, /CONFIG_INVALID/);
      assert.match(r.stderr, message);
    });
  }

  test('good values load, and show', async () => {
    const r = await runWalship(['config', 'show'], { WALG_FILE_PREFIX: '/tmp/x', WALSHIP_DRILL_SCHEDULE: '0 4 * * *', WALSHIP_DRILL_DISK_BUDGET: '20480', WALSHIP_PGBIN: '/usr/lib/postgresql/15/bin' });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /WALSHIP_DRILL_SCHEDULE.*0 4 \* \* \*/);
    assert.match(r.stdout, /WALSHIP_DRILL_DISK_BUDGET.*20480/);
    assert.match(r.stdout, /WALSHIP_PGBIN.*\/usr\/lib\/postgresql\/15\/bin/);
  });
});
