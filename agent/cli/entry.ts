import { main } from './main.ts';

// The one place that ends the process. Waiting for stdout to drain first
// keeps piped output (`walship st get key - | lz4 -d`) whole.
const untilStop = () =>
  new Promise<string>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
const onReload = (callback: () => void) => void process.on('SIGHUP', callback);
const code = await main(process.argv.slice(2), { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env, untilStop, onReload });
process.exitCode = code;
if (process.stdout.writableLength > 0) process.stdout.once('drain', () => process.exit(code));
else process.exit(code);
