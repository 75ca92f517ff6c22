import { randomBytes } from 'node:crypto';
import type { BlockBlobClient } from '@azure/storage-blob';
import { growingPartSize, MiB } from '../parts.ts';
import type { PartSink } from '../part-upload.ts';

// Writes to Azure: a single Put Blob for a body that fits in one block, else
// staged blocks and a Put Block List. Conditional writes put If-None-Match on
// the request that makes the blob visible.

/**
 * 16 MiB blocks: a WAL segment is one Put Blob, and 10,000 blocks of each
 * size before doubling keeps an unknown-length body within Azure's 50,000.
 */
export const azureBlockSize = growingPartSize(16 * MiB, 10_000);

export function azureBlockSink(blob: BlockBlobClient, metadata: Record<string, string> | undefined, ifAbsent: boolean): PartSink<string> {
  // Uncommitted blocks belong to the blob name, not to the writer: two
  // writers using the same IDs would commit each other's data. A per-upload
  // nonce keeps them apart; IDs of one blob must all have the same length.
  const nonce = randomBytes(12).toString('hex');
  const blockId = (n: number) => Buffer.from(`${nonce}-${String(n).padStart(5, '0')}`).toString('base64');
  const common = {
    ...(metadata === undefined ? {} : { metadata }),
    ...(ifAbsent ? { conditions: { ifNoneMatch: '*' } } : {}),
  };

  return {
    async putWhole(data, abortSignal) {
      await blob.upload(data, data.length, { ...common, abortSignal });
    },

    async begin() {
      // Blocks need no upload session.
    },

    async putPart(part, abortSignal) {
      const id = blockId(part.number);
      await blob.stageBlock(id, part.data, part.data.length, { abortSignal });
      return id;
    },

    async complete(ids, abortSignal) {
      await blob.commitBlockList(ids, { ...common, abortSignal });
    },

    async abandon() {
      // Uncommitted blocks cost nothing visible and the service drops them
      // after a week; there is no call to discard them sooner.
    },
  };
}
