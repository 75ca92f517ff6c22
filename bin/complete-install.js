// walship's postinstall: completes an install that an older npm Node left
// short.
//
// npm checks an optional dependency's "engines" against the Node that runs
// npm, not the Node the project runs on, and silently leaves out the ones that
// do not match. @napi-rs/lzma >= 1.5 declares node ^22.20 || ^24.12 || >= 25
// for its prebuilt bindings, so `npm ci` run by a system Node 20 (Debian 12's,
// or Debian's Node 18 in the image's build stage) installs the package without
// its binding, and reading a WAL-G lzma object then fails. walship itself runs
// on Node 24, its own `node` dependency, which npm has installed by now and
// put first on PATH for this script: when a binding is missing, npm is run
// once more on that Node, which installs what the lock file lists for it.
// --ignore-scripts keeps that run from starting this script again.

import { spawnSync } from 'node:child_process';

// Packages whose prebuilt native binding an older npm Node may leave out.
const NATIVE = ['@napi-rs/lzma'];

// Each probe loads the package in a fresh Node: a failed load stays cached in
// the process that tried it.
function missing() {
  return NATIVE.filter((name) => spawnSync(process.execPath, ['-e', `require(${JSON.stringify(name)})`], { stdio: 'ignore' }).status !== 0);
}

const absent = missing();
const npm = process.env.npm_execpath;
// Only in walship's own checkout: as a dependency of another project or a
// global install, a second npm run here would build a nested tree.
const isRoot = process.env.INIT_CWD === process.cwd();
if (absent.length > 0 && npm && isRoot) {
  console.error(`walship: installing the native bindings that npm, run by an older Node, left out: ${absent.join(', ')}`);
  const run = spawnSync(process.execPath, [npm, 'install', '--no-save', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=warn'], {
    stdio: 'inherit',
  });
  const still = missing();
  if (run.status !== 0 || still.length > 0) {
    // Not fatal: only WAL-G's lzma objects need it, and reading one then says
    // what is missing (CODEC_UNAVAILABLE).
    console.error(`walship: warning: still missing: ${still.join(', ') || 'none'} (npm exited ${run.status}); WAL-G lzma objects cannot be read until \`npm install\` runs on Node >= 22.20`);
  }
}
