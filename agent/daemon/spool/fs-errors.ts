import { WalshipError } from '../../errors.ts';

/** True for ENOENT: in the spool that means another party (the client, or a second report of the same name) got there first. */
export function isMissing(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}

/** A failed file operation on the spool, as the catalogue's IO_FAILED, saying what was being done. */
export function spoolIoError(doing: string, err: unknown): WalshipError {
  const reason = err instanceof Error ? err.message : String(err);
  return new WalshipError('IO_FAILED', `${doing}: ${reason}`, { cause: err });
}
