import type { ObjectMetadata } from '../driver.ts';
import { WalshipError } from '../../errors.ts';

// Azure metadata names must be C# identifiers, so walship's hyphenated keys
// (e.g. walship-compression) are stored with underscores. The mapping is
// only reversible because walship's keys never contain an underscore.

const KEY = /^[a-z][a-z0-9-]*$/;

export function toAzureMetadata(metadata: ObjectMetadata): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(metadata)) {
    if (!KEY.test(key)) {
      throw new WalshipError('INTERNAL', `metadata key ${JSON.stringify(key)} cannot be stored in Azure: use a-z, 0-9 and "-", starting with a letter`);
    }
    out[key.replaceAll('-', '_')] = value;
  }
  return out;
}

export function fromAzureMetadata(metadata: Record<string, string> | undefined): ObjectMetadata {
  const out: ObjectMetadata = {};
  // Azure keeps the case it was given and Azurite lower-cases; walship's keys are lower-case.
  for (const [key, value] of Object.entries(metadata ?? {})) out[key.toLowerCase().replaceAll('_', '-')] = value;
  return out;
}
