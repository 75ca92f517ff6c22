import { CommanderError } from 'commander';
import { asWalshipError, catalogue, formatErrorLine } from '../errors.ts';
import { writeLine, type CommandIO } from './io.ts';
import { buildProgram } from './program.ts';

/** Runs one command line and resolves with the exit code; never exits the process itself. */
export async function main(argv: readonly string[], io: CommandIO): Promise<number> {
  let code = 0;
  const program = buildProgram(io, (c) => {
    code = c;
  });
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return code;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end through here too, with exit code 0.
      return err.exitCode === 0 ? 0 : catalogue.USAGE.exit;
    }
    const error = asWalshipError(err);
    writeLine(io.stderr, formatErrorLine(error));
    if (error.code === 'INTERNAL' && error.cause instanceof Error && error.cause.stack) writeLine(io.stderr, error.cause.stack);
    return error.exitCode;
  }
}
