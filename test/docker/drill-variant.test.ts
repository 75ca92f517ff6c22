import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { findServerBinaries } from '../../agent/pg/server-binaries.ts';

// The restore-drill image variant, read from docker/Dockerfile without
// building it (the build takes many minutes; image.slow.test.ts builds the
// default variant): PG_MAJOR is a build argument of the runtime stage, empty
// by default; set, it installs that major's server where restore-drill
// looks for it, without creating a cluster.

const DOCKERFILE = fileURLToPath(new URL('../../docker/Dockerfile', import.meta.url));

/** The Dockerfile's instructions, continuation lines joined. */
async function instructions(): Promise<string[]> {
  const text = await readFile(DOCKERFILE, 'utf8');
  return text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
}

describe('docker/Dockerfile: the restore-drill variant', () => {
  test('PG_MAJOR is an argument of the runtime stage, empty by default', async () => {
    const lines = await instructions();
    const runtime = lines.findLastIndex((l) => l.startsWith('FROM '));
    const arg = lines.findIndex((l) => /^ARG PG_MAJOR(=|$)/.test(l));
    assert.ok(arg > runtime, 'ARG PG_MAJOR is declared after the last FROM, so the runtime stage sees it');
    assert.equal(lines[arg], 'ARG PG_MAJOR=', 'the default image has no PostgreSQL');
  });

  test('set, it installs that major’s server, creates no cluster, and checks the version', async () => {
    const lines = await instructions();
    const install = lines.find((l) => l.startsWith('RUN ') && l.includes('postgresql-$PG_MAJOR'));
    assert.ok(install, 'a RUN installs postgresql-$PG_MAJOR');
    assert.match(install, /^RUN if \[ -n "\$PG_MAJOR" \]; then /, 'only when PG_MAJOR is set');
    assert.match(install, /create_main_cluster = false.*createcluster\.conf.*apt-get install/, 'no cluster created, configured before the install');
    assert.match(install, /"\/usr\/lib\/postgresql\/\$PG_MAJOR\/bin\/postgres" --version \| grep -q "\(PostgreSQL\) \$PG_MAJOR\\\.?"/);
  });

  test('where the variant puts the binaries is where restore-drill finds them', async () => {
    // This machine has PostgreSQL 15 in Debian's place, as the pg15 image does; PATH empty, so only that place can answer.
    const found = await findServerBinaries({ path: '', major: 15, needed: ['postgres', 'pg_controldata'] });
    assert.equal(found.binDir, '/usr/lib/postgresql/15/bin');
    assert.equal(found.major, 15);
    await assert.rejects(findServerBinaries({ path: '', major: 14, needed: ['postgres'] }), /DRILL_REFUSED|PostgreSQL 14 server binaries/);
  });
});
