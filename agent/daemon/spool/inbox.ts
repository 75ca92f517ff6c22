import { watch, type FSWatcher } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { spoolIoError } from './fs-errors.ts';

// Tells the server about names appearing in req/. inotify (fs.watch) makes
// a new request known within a fraction of a millisecond; the periodic
// rescan is the safety net, because watches can miss events (queue
// overflow, a volume that does not deliver them, a watch that died). A
// name may be reported more than once, and names that are not requests
// are reported too: the listener filters, and claiming by rename makes a
// second report of the same request harmless.

export interface InboxOptions {
  dir: string;
  rescanMs: number;
  onName: (name: string) => void;
  onError: (err: unknown) => void;
}

export interface Inbox {
  close(): void;
}

/** Starts watching dir; resolves once the first full scan has reported every name already there. */
export async function openInbox(options: InboxOptions): Promise<Inbox> {
  const { dir, onName } = options;
  let watcher: FSWatcher | undefined;
  let scanning = false;
  let closed = false;
  // A broken watch or directory would otherwise be reported on every rescan.
  const watchFailure = reportOnce(options.onError);
  const scanFailure = reportOnce(options.onError);

  const startWatching = () => {
    try {
      const w = watch(dir, (_event, name) => {
        if (name) onName(name);
        else void rescan(); // the platform could not say which name changed
      });
      w.on('error', (err) => {
        watchFailure.failed(spoolIoError(`watching ${dir} failed (requests are still found by rescanning)`, err));
        w.close();
        if (watcher === w) watcher = undefined;
      });
      watcher = w;
      watchFailure.recovered();
    } catch (err) {
      watchFailure.failed(spoolIoError(`cannot watch ${dir} (requests are still found by rescanning)`, err));
    }
  };

  const rescan = async () => {
    if (scanning || closed) return;
    scanning = true;
    try {
      if (watcher === undefined) startWatching();
      const names = await readdir(dir);
      scanFailure.recovered();
      for (const name of names) {
        if (closed) break;
        onName(name);
      }
    } catch (err) {
      scanFailure.failed(spoolIoError(`cannot list the spool requests in ${dir}`, err));
    } finally {
      scanning = false;
    }
  };

  // Watch before the first scan, so a request arriving in between is seen.
  startWatching();
  await rescan();
  const timer = setInterval(() => void rescan(), options.rescanMs);
  return {
    close() {
      closed = true;
      clearInterval(timer);
      watcher?.close();
      watcher = undefined;
    },
  };
}

function reportOnce(onError: (err: unknown) => void) {
  let failing = false;
  return {
    failed(err: unknown) {
      if (!failing) onError(err);
      failing = true;
    },
    recovered() {
      failing = false;
    },
  };
}
