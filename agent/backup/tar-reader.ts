// A push parser for tar streams: bytes in, whatever their chunking; file
// starts, data and ends out, synchronously, without copying file data.

import { TAR_BLOCK, corruptTar, decodeHeader, decodePaxRecords, tarPadding, type TarHeader } from './tar-format.ts';

export interface TarReaderHooks {
  /** A regular file begins: return true to receive its data, false to skip it. */
  onFile(header: TarHeader): boolean;
  /** Data of the file accepted last; the chunk may be reused once this returns. */
  onData(chunk: Buffer): void;
  onFileEnd(header: TarHeader): void;
  /**
   * A directory, symbolic or hard link: walship's own parts hold none (its
   * manifest lists directories), other tar writers' do. Skipped without this hook.
   */
  onOtherEntry?(header: TarHeader): void;
}

/** Extended headers are small: anything larger is a damaged stream, not something to buffer. */
const MAX_EXTENDED_HEADER = 1 << 20;

type State =
  | { at: 'header' }
  | { at: 'file'; header: TarHeader; left: number; wanted: boolean }
  | { at: 'extended'; header: TarHeader; parts: Buffer[]; left: number }
  | { at: 'skip'; left: number }
  | { at: 'ended' };

export class TarReader {
  readonly #hooks: TarReaderHooks;
  #state: State = { at: 'header' };
  readonly #block = Buffer.alloc(TAR_BLOCK);
  #blockFilled = 0;
  /** Stream offset, for messages. */
  #offset = 0;
  /** Overrides from a pax or GNU long-name header, for the next entry. */
  #next: { path?: string; size?: number; linkname?: string } = {};

  constructor(hooks: TarReaderHooks) {
    this.#hooks = hooks;
  }

  write(chunk: Buffer): void {
    let i = 0;
    while (i < chunk.length) {
      const state = this.#state;
      switch (state.at) {
        case 'ended':
          // What follows the end blocks (tar's own zero padding) is not read.
          this.#offset += chunk.length - i;
          return;
        case 'header': {
          const take = Math.min(TAR_BLOCK - this.#blockFilled, chunk.length - i);
          chunk.copy(this.#block, this.#blockFilled, i, i + take);
          this.#blockFilled += take;
          i += take;
          this.#offset += take;
          if (this.#blockFilled === TAR_BLOCK) {
            this.#blockFilled = 0;
            this.#onHeader();
          }
          break;
        }
        case 'file': {
          const take = Math.min(state.left, chunk.length - i);
          if (state.wanted && take > 0) this.#hooks.onData(chunk.subarray(i, i + take));
          state.left -= take;
          i += take;
          this.#offset += take;
          if (state.left === 0) {
            if (state.wanted) this.#hooks.onFileEnd(state.header);
            this.#state = { at: 'skip', left: tarPadding(state.header.size) };
          }
          break;
        }
        case 'extended': {
          const take = Math.min(state.left, chunk.length - i);
          state.parts.push(Buffer.from(chunk.subarray(i, i + take)));
          state.left -= take;
          i += take;
          this.#offset += take;
          if (state.left === 0) this.#onExtended(state.header, Buffer.concat(state.parts));
          break;
        }
        case 'skip': {
          const take = Math.min(state.left, chunk.length - i);
          state.left -= take;
          i += take;
          this.#offset += take;
          break;
        }
      }
      if (this.#state.at === 'skip' && this.#state.left === 0) this.#state = { at: 'header' };
    }
  }

  /** Call at the end of input: throws if the stream stops inside an entry. */
  end(): void {
    if (this.#state.at === 'ended' || (this.#state.at === 'header' && this.#blockFilled === 0)) return;
    throw corruptTar(this.#offset, 'unexpected end of data');
  }

  #onHeader(): void {
    const at = this.#offset - TAR_BLOCK;
    const decoded = decodeHeader(this.#block, at);
    if (decoded === undefined) {
      this.#state = { at: 'ended' };
      return;
    }
    if (decoded.type === 'pax' || decoded.type === 'gnu-long-name' || decoded.type === 'gnu-long-link' || decoded.type === 'global-pax') {
      if (decoded.size > MAX_EXTENDED_HEADER) throw corruptTar(at, `extended header of ${decoded.size} bytes`);
      this.#state = decoded.size === 0 ? { at: 'header' } : { at: 'extended', header: decoded, parts: [], left: decoded.size };
      if (decoded.size === 0) this.#onExtended(decoded, Buffer.alloc(0));
      return;
    }
    const header: TarHeader = { ...decoded, name: this.#next.path ?? decoded.name, size: this.#next.size ?? decoded.size, linkname: this.#next.linkname ?? decoded.linkname };
    this.#next = {};
    if (header.type === 'directory' || header.type === 'symlink' || header.type === 'hardlink') this.#hooks.onOtherEntry?.(header);
    if (header.type !== 'file') {
      this.#state = { at: 'skip', left: header.size + tarPadding(header.size) };
      return;
    }
    const wanted = this.#hooks.onFile(header);
    this.#state = { at: 'file', header, left: header.size, wanted };
    if (header.size === 0) {
      if (wanted) this.#hooks.onFileEnd(header);
      this.#state = { at: 'header' };
    }
  }

  #onExtended(header: TarHeader, data: Buffer): void {
    const at = this.#offset - data.length;
    if (header.type === 'gnu-long-name' || header.type === 'gnu-long-link') {
      const end = data.indexOf(0);
      const text = data.subarray(0, end < 0 ? data.length : end).toString('utf8');
      if (header.type === 'gnu-long-name') this.#next.path = text;
      else this.#next.linkname = text;
    } else if (header.type === 'pax') {
      const records = decodePaxRecords(data, at);
      const path = records.get('path');
      const size = records.get('size');
      const linkpath = records.get('linkpath');
      if (path !== undefined) this.#next.path = path;
      if (linkpath !== undefined) this.#next.linkname = linkpath;
      if (size !== undefined) {
        if (!/^\d+$/.test(size)) throw corruptTar(at, `pax size ${JSON.stringify(size)}`);
        this.#next.size = Number(size);
      }
    }
    this.#state = { at: 'skip', left: tarPadding(header.size) };
  }
}
