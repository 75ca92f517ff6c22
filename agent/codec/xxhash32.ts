// XXH32, the checksum of the LZ4 frame format (header, block and content
// checksums). lz4-napi verifies checksums only when it decodes a whole frame;
// the block-by-block path for large foreign frames needs its own.

const P1 = 0x9e3779b1;
const P2 = 0x85ebca77;
const P3 = 0xc2b2ae3d;
const P4 = 0x27d4eb2f;
const P5 = 0x165667b1;

function rotl(x: number, r: number): number {
  return (x << r) | (x >>> (32 - r));
}

function round(acc: number, lane: number): number {
  return Math.imul(rotl((acc + Math.imul(lane, P2)) | 0, 13), P1);
}

function readU32(b: Uint8Array, i: number): number {
  return b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24);
}

/** Streaming XXH32: feed any number of chunks, then digest once. */
export class Xxh32 {
  #v1: number;
  #v2: number;
  #v3: number;
  #v4: number;
  readonly #seed: number;
  #total = 0;
  /** Up to 15 bytes that did not fill a 16-byte stripe yet. */
  readonly #tail = new Uint8Array(16);
  #tailLength = 0;

  constructor(seed = 0) {
    this.#seed = seed | 0;
    this.#v1 = (this.#seed + P1 + P2) | 0;
    this.#v2 = (this.#seed + P2) | 0;
    this.#v3 = this.#seed;
    this.#v4 = (this.#seed - P1) | 0;
  }

  update(data: Uint8Array): this {
    this.#total += data.length;
    let i = 0;
    if (this.#tailLength > 0) {
      const take = Math.min(16 - this.#tailLength, data.length);
      this.#tail.set(data.subarray(0, take), this.#tailLength);
      this.#tailLength += take;
      i = take;
      if (this.#tailLength < 16) return this;
      this.#stripe(this.#tail, 0);
      this.#tailLength = 0;
    }
    let v1 = this.#v1;
    let v2 = this.#v2;
    let v3 = this.#v3;
    let v4 = this.#v4;
    const limit = data.length - 16;
    for (; i <= limit; i += 16) {
      v1 = round(v1, readU32(data, i));
      v2 = round(v2, readU32(data, i + 4));
      v3 = round(v3, readU32(data, i + 8));
      v4 = round(v4, readU32(data, i + 12));
    }
    this.#v1 = v1;
    this.#v2 = v2;
    this.#v3 = v3;
    this.#v4 = v4;
    if (i < data.length) {
      this.#tail.set(data.subarray(i), 0);
      this.#tailLength = data.length - i;
    }
    return this;
  }

  digest(): number {
    let h: number;
    if (this.#total >= 16) {
      h = (rotl(this.#v1, 1) + rotl(this.#v2, 7) + rotl(this.#v3, 12) + rotl(this.#v4, 18)) | 0;
    } else {
      h = (this.#seed + P5) | 0;
    }
    // The spec adds the length modulo 2^32.
    h = (h + (this.#total % 0x1_0000_0000)) | 0;
    const tail = this.#tail;
    let i = 0;
    for (; i + 4 <= this.#tailLength; i += 4) {
      h = Math.imul(rotl((h + Math.imul(readU32(tail, i), P3)) | 0, 17), P4);
    }
    for (; i < this.#tailLength; i++) {
      h = Math.imul(rotl((h + Math.imul(tail[i]!, P5)) | 0, 11), P1);
    }
    h ^= h >>> 15;
    h = Math.imul(h, P2);
    h ^= h >>> 13;
    h = Math.imul(h, P3);
    h ^= h >>> 16;
    return h >>> 0;
  }

  #stripe(b: Uint8Array, i: number): void {
    this.#v1 = round(this.#v1, readU32(b, i));
    this.#v2 = round(this.#v2, readU32(b, i + 4));
    this.#v3 = round(this.#v3, readU32(b, i + 8));
    this.#v4 = round(this.#v4, readU32(b, i + 12));
  }
}

export function xxh32(data: Uint8Array, seed = 0): number {
  return new Xxh32(seed).update(data).digest();
}
