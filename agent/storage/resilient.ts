import { PassThrough, Transform, type Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TransferConfig } from '../config/types.ts';
import { WalshipError, asWalshipError } from '../errors.ts';
import { storeError } from './classify.ts';
import type {
  BodySource,
  GetOptions,
  GetResult,
  ListOptions,
  ListPage,
  ObjectInfo,
  PutOptions,
  SignalOptions,
  StorageDriver,
} from './driver.ts';
import { through } from '../util/streams.ts';
import { validateKey, validatePrefix } from './keys.ts';

// Deadlines and retries wrapped around any driver, so every driver gets the
// same behaviour and none of them can hang a caller: WAL-G's users lose
// archiving for hours to storage calls that never return.

/** Keys per delete deadline: Azure's Blob Batch size; four S3 DeleteObjects requests fit in one of S3's. */
const DELETE_CHUNK = 250;

type Policy = Pick<TransferConfig, 'requestTimeoutMs' | 'idleTimeoutMs' | 'maxAttempts' | 'baseBackoffMs' | 'maxBackoffMs'>;

/** A deadline that can be pushed back while work makes progress. */
class Watchdog {
  readonly controller = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private readonly onParentAbort: () => void;
  private readonly parent: AbortSignal | undefined;
  private readonly ms: number;
  private readonly describe: () => WalshipError;

  constructor(ms: number, describe: () => WalshipError, parent?: AbortSignal) {
    this.ms = ms;
    this.describe = describe;
    this.parent = parent;
    this.onParentAbort = () => this.controller.abort(parent?.reason);
    if (parent?.aborted) this.controller.abort(parent.reason);
    parent?.addEventListener('abort', this.onParentAbort, { once: true });
    this.kick();
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  kick(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.controller.abort(this.describe()), this.ms);
    this.timer.unref();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.parent?.removeEventListener('abort', this.onParentAbort);
  }

  /** Rejects when the watchdog fires, even if the wrapped call ignores its signal. */
  race<T>(work: Promise<T>): Promise<T> {
    const signal = this.signal;
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => reject(asWalshipError(signal.reason, 'STORE_TIMEOUT'));
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      work.then(
        (v) => {
          signal.removeEventListener('abort', onAbort);
          resolve(v);
        },
        (e: unknown) => {
          signal.removeEventListener('abort', onAbort);
          reject(signal.aborted ? asWalshipError(signal.reason, 'STORE_TIMEOUT') : e);
        },
      );
    });
  }
}

export function withResilience(inner: StorageDriver, policy: Policy): StorageDriver {
  const location = inner.location;

  const timeoutError = (op: string, key: string | undefined, ms: number, what: string) => () =>
    new WalshipError('STORE_TIMEOUT', `${op} ${location}${key === undefined ? '' : '/' + key}: ${what} for ${ms} ms`, {
      details: { op, timeoutMs: ms },
    });

  async function attempt<T>(
    op: string,
    key: string | undefined,
    signal: AbortSignal | undefined,
    run: (attemptNo: number) => Promise<T>,
  ): Promise<T> {
    for (let n = 1; ; n++) {
      try {
        return await run(n);
      } catch (raw) {
        const err = storeError({ op, location, ...(key === undefined ? {} : { key }) }, raw);
        if (!err.retryable || n >= policy.maxAttempts || signal?.aborted) {
          if (n > 1) (err.details as Record<string, unknown>).attempts = n;
          throw err;
        }
        const cap = Math.min(policy.maxBackoffMs, policy.baseBackoffMs * 2 ** (n - 1));
        await sleep(Math.random() * cap, undefined, signal ? { signal } : {}).catch(() => undefined);
      }
    }
  }

  /** A metadata call: one deadline for the whole round trip. */
  function request<T>(op: string, key: string | undefined, signal: AbortSignal | undefined, call: (s: AbortSignal) => Promise<T>) {
    return attempt(op, key, signal, async () => {
      const dog = new Watchdog(policy.requestTimeoutMs, timeoutError(op, key, policy.requestTimeoutMs, 'no answer'), signal);
      try {
        return await dog.race(call(dog.signal));
      } finally {
        dog.stop();
      }
    });
  }

  /** An upload: the deadline moves while body bytes flow, so large objects are fine and stalls are not. */
  function upload<T>(op: string, key: string, body: BodySource, options: PutOptions, call: (b: BodySource, o: PutOptions) => Promise<T>) {
    return attempt(op, key, options.signal, async () => {
      const dog = new Watchdog(policy.idleTimeoutMs, timeoutError(op, key, policy.idleTimeoutMs, 'no progress'), options.signal);
      const watched: BodySource = () => {
        // A pass-through rather than a 'data' listener: a listener would start
        // the flow before the driver is ready to consume it.
        return through(
          body(),
          new Transform({
            transform(chunk, _encoding, callback) {
              dog.kick();
              callback(null, chunk);
            },
          }),
        );
      };
      try {
        return await dog.race(call(watched, { ...options, signal: dog.signal, onProgress: () => dog.kick() }));
      } finally {
        dog.stop();
      }
    });
  }

  return {
    kind: inner.kind,
    location,

    async put(key, body, options = {}) {
      validateKey(key);
      return upload('put', key, body, options, (b, o) => inner.put(key, b, o));
    },

    async putIfAbsent(key, body, options = {}) {
      validateKey(key);
      return upload('put-if-absent', key, body, options, (b, o) => inner.putIfAbsent(key, b, o));
    },

    async get(key, options: GetOptions = {}): Promise<GetResult> {
      validateKey(key);
      return attempt('get', key, options.signal, async () => {
        const dog = new Watchdog(policy.requestTimeoutMs, timeoutError('get', key, policy.requestTimeoutMs, 'no answer'), options.signal);
        let result: GetResult;
        try {
          result = await dog.race(inner.get(key, { ...options, signal: dog.signal }));
        } catch (err) {
          dog.stop();
          throw err;
        }
        dog.stop();
        return { info: result.info, body: guardBody(result.body, policy.idleTimeoutMs, timeoutError('get', key, policy.idleTimeoutMs, 'no data'), (e) => storeError({ op: 'get', location, key }, e)) };
      });
    },

    async stat(key, options: SignalOptions = {}): Promise<ObjectInfo | undefined> {
      validateKey(key);
      return request('stat', key, options.signal, (signal) => inner.stat(key, { signal }));
    },

    async listPage(prefix, options: ListOptions = {}): Promise<ListPage> {
      validatePrefix(prefix);
      return request('list', prefix, options.signal, (signal) => inner.listPage(prefix, { ...options, signal }));
    },

    async deleteMany(keys, options: SignalOptions = {}) {
      for (const key of keys) validateKey(key);
      // One deadline per chunk, not per call: deleting thousands of keys is
      // many requests (one per key on Azure), and its length must not count
      // as a store that stopped answering.
      for (let i = 0; i < keys.length; i += DELETE_CHUNK) {
        const chunk = keys.slice(i, i + DELETE_CHUNK);
        await request('delete', undefined, options.signal, (signal) => inner.deleteMany(chunk, { signal }));
      }
    },

    close: () => inner.close(),
  };
}

/**
 * Passes the body through, failing it if no bytes arrive for `idleMs` and
 * turning the driver's stream errors into catalogue errors.
 */
function guardBody(body: Readable, idleMs: number, onIdle: () => WalshipError, classify: (e: unknown) => WalshipError): Readable {
  const out = new PassThrough({ highWaterMark: 1024 * 1024 });
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      const err = onIdle();
      body.destroy(err);
      out.destroy(err);
    }, idleMs);
    timer.unref();
  };
  const disarm = () => clearTimeout(timer);
  body.on('data', arm);
  body.on('error', (e) => {
    disarm();
    out.destroy(classify(e));
  });
  body.on('end', disarm);
  out.on('close', () => {
    disarm();
    if (!body.destroyed) body.destroy();
  });
  // Pause the idle clock while the consumer applies backpressure: a slow
  // reader is not a stalled store.
  body.pipe(out);
  body.on('pause', disarm);
  body.on('resume', arm);
  arm();
  return out;
}
