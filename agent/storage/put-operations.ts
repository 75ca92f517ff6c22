import type { BodySource, PutOptions, StorageDriver } from './driver.ts';

/** One upload, unconditional or only if the key is absent: true when written, false when the key existed. */
export type WriteObject = (op: 'put' | 'put-if-absent', key: string, body: BodySource, options: PutOptions, ifAbsent: boolean) => Promise<boolean>;

// Drivers whose stores take a precondition on the same upload call
// implement one write; both driver methods are that write.
export function putOperations(write: WriteObject): Pick<StorageDriver, 'put' | 'putIfAbsent'> {
  return {
    async put(key, body, options = {}) {
      await write('put', key, body, options, false);
    },
    putIfAbsent: (key, body, options = {}) => write('put-if-absent', key, body, options, true),
  };
}
