import { asWalshipError } from '../errors.ts';
import type { StorageDriver } from './driver.ts';

// Latency and errors of every store call, wrapped around a driver like the
// deadlines are: no driver counts anything itself.

export interface StorageObserver {
  observe(op: string, seconds: number): void;
  failed(op: string, code: string): void;
}

export function withObserver(inner: StorageDriver, observer: StorageObserver): StorageDriver {
  const timed = <T>(op: string, call: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    return call().then(
      (value) => {
        observer.observe(op, (performance.now() - started) / 1000);
        return value;
      },
      (err: unknown) => {
        observer.observe(op, (performance.now() - started) / 1000);
        observer.failed(op, asWalshipError(err).code);
        throw err;
      },
    );
  };
  return {
    kind: inner.kind,
    location: inner.location,
    put: (key, body, options) => timed('put', () => inner.put(key, body, options)),
    putIfAbsent: (key, body, options) => timed('put_if_absent', () => inner.putIfAbsent(key, body, options)),
    get: (key, options) => timed('get', () => inner.get(key, options)),
    stat: (key, options) => timed('stat', () => inner.stat(key, options)),
    listPage: (prefix, options) => timed('list', () => inner.listPage(prefix, options)),
    deleteMany: (keys, options) => timed('delete', () => inner.deleteMany(keys, options)),
    close: () => inner.close(),
  };
}
