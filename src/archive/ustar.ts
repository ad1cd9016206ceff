/**
 * The ustar header format (POSIX.1-1988, with the pax extensions of POSIX.1-2001 and the GNU
 * long-name entry), encoded and decoded by hand. ocikit writes and reads tar itself rather than
 * through the `tar` package because it needs byte-level control in both directions: the writer
 * must emit exactly the same bytes on every machine (no atime/ctime/pax records, no user
 * names, fixed modes), and the reader must refuse everything that is not a regular file or a
 * directory before anything reaches the disk, with one coded error per kind of refusal.
 */
import { ErrorCode, OcikitError } from '../errors.js';

/** The tar block size. */
export const BLOCK = 512;

/** Type flags ocikit distinguishes. */
export const TypeFlag = {
  File: '0',
  OldFile: '\0',
  HardLink: '1',
  SymLink: '2',
  CharDevice: '3',
  BlockDevice: '4',
  Directory: '5',
  Fifo: '6',
  Contiguous: '7',
  PaxHeader: 'x',
  PaxGlobal: 'g',
  GnuLongName: 'L',
  GnuLongLink: 'K',
} as const;

/** What the writer emits: a regular file or a directory. */
export interface WriteHeader {
  /** Path with forward slashes; directories end in `/`. */
  path: string;
  type: 'file' | 'directory';
  size: number;
  mode: number;
}

/** A raw header as read from an archive (pax/GNU extensions not yet applied). */
export interface RawHeader {
  name: string;
  mode: number;
  size: number;
  typeflag: string;
  linkname: string;
  /** Byte offset of the header in the (uncompressed) archive. */
  offset: number;
}

const USTAR_MAGIC = 'ustar\u000000';
const GNU_MAGIC = 'ustar  \u0000';
/** The largest size the 11-digit octal field holds (8 GiB - 1). */
export const MAX_OCTAL_SIZE = 0o77777777777;

function octal(value: number, width: number): string {
  // width includes the terminating NUL
  return `${value.toString(8).padStart(width - 1, '0')}\0`;
}

function pathBytes(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

/** Split a path into ustar prefix and name fields, or undefined when it does not fit. */
function splitUstar(p: string): { prefix: string; name: string } | undefined {
  if (pathBytes(p) <= 100) return { prefix: '', name: p };
  // The split point must be a '/' such that the prefix fits in 155 bytes and the name in 100.
  for (let i = p.length - 1; i > 0; i--) {
    if (p[i] !== '/') continue;
    const prefix = p.slice(0, i);
    const name = p.slice(i + 1);
    if (pathBytes(prefix) <= 155 && pathBytes(name) <= 100 && name !== '') return { prefix, name };
    if (pathBytes(prefix) <= 155) break;
  }
  return undefined;
}

function headerBlock(fields: {
  name: string;
  prefix: string;
  mode: number;
  size: number;
  typeflag: string;
}): Buffer {
  const h = Buffer.alloc(BLOCK, 0);
  h.write(fields.name, 0, 100, 'utf8');
  h.write(octal(fields.mode, 8), 100, 'ascii');
  h.write(octal(0, 8), 108, 'ascii'); // uid
  h.write(octal(0, 8), 116, 'ascii'); // gid
  h.write(octal(fields.size, 12), 124, 'ascii');
  h.write(octal(0, 12), 136, 'ascii'); // mtime
  h.write('        ', 148, 'ascii'); // checksum placeholder
  h.write(fields.typeflag, 156, 'ascii');
  h.write(USTAR_MAGIC, 257, 'ascii');
  // uname and gname stay empty: no user names from this machine.
  h.write(octal(0, 8), 329, 'ascii'); // devmajor
  h.write(octal(0, 8), 337, 'ascii'); // devminor
  h.write(fields.prefix, 345, 155, 'utf8');
  h.write(`${octal(checksum(h), 7)} `, 148, 'ascii');
  return h;
}

/** The unsigned sum of the header bytes with the checksum field counted as spaces. */
export function checksum(h: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : (h[i] as number);
  return sum;
}

function signedChecksum(h: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++)
    sum += i >= 148 && i < 156 ? 0x20 : ((h[i] as number) << 24) >> 24;
  return sum;
}

/** One pax record: `<len> <key>=<value>\n`, where len counts itself. */
function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let len = Buffer.byteLength(body, 'utf8');
  let total = len + String(len).length;
  if (String(total).length !== String(len).length) total = len + String(total).length;
  len = total;
  return `${len}${body}`;
}

/** Zero padding that completes a block after `size` bytes of content. */
export function padding(size: number): Buffer {
  const rest = size % BLOCK;
  return Buffer.alloc(rest === 0 ? 0 : BLOCK - rest, 0);
}

/** The end-of-archive marker: two zero blocks. */
export function endOfArchive(): Buffer {
  return Buffer.alloc(2 * BLOCK, 0);
}

/**
 * The header block(s) of one entry: a plain ustar header when the path and size fit, with a
 * pax extended header in front only when they do not (paths that cannot be split into the
 * 155 + 100 byte fields, sizes of 8 GiB and more). Deterministic: mtime 0, uid/gid 0, no user
 * names, the pax header named `PaxHeader/<name>` with the same fixed fields.
 */
export function encodeHeader(entry: WriteHeader): Buffer {
  const typeflag = entry.type === 'directory' ? TypeFlag.Directory : TypeFlag.File;
  const size = entry.type === 'directory' ? 0 : entry.size;
  const split = splitUstar(entry.path);
  const records: string[] = [];
  if (split === undefined) records.push(paxRecord('path', entry.path));
  if (size > MAX_OCTAL_SIZE) records.push(paxRecord('size', String(size)));
  const fallbackName = entry.path.replace(/\/$/, '').split('/').pop() ?? 'entry';
  const fields = split ?? { prefix: '', name: truncateUtf8(fallbackName, 100) };
  const main = headerBlock({
    ...fields,
    mode: entry.mode,
    size: size > MAX_OCTAL_SIZE ? 0 : size,
    typeflag,
  });
  if (records.length === 0) return main;
  const body = Buffer.from(records.join(''), 'utf8');
  const pax = headerBlock({
    name: truncateUtf8(`PaxHeader/${fallbackName}`, 100),
    prefix: '',
    mode: 0o644,
    size: body.length,
    typeflag: TypeFlag.PaxHeader,
  });
  return Buffer.concat([pax, body, padding(body.length), main]);
}

function truncateUtf8(s: string, bytes: number): string {
  let out = s;
  while (Buffer.byteLength(out, 'utf8') > bytes) out = out.slice(0, -1);
  return out;
}

function invalid(offset: number, what: string): OcikitError {
  return new OcikitError(ErrorCode.ArchiveInvalid, `archive header at byte ${offset}: ${what}`, {
    hint: 'The file is not a tar archive or it is corrupt; produce it again (ocikit pack, skopeo copy oci-archive:, buildx --output type=oci).',
    details: { offset },
  });
}

/** A NUL-terminated string field. */
function field(h: Buffer, start: number, length: number): string {
  const end = h.indexOf(0, start);
  return h.toString('utf8', start, end < 0 || end > start + length ? start + length : end);
}

/** A numeric field: octal digits (space/NUL padded), or GNU base-256 for large values. */
function numeric(h: Buffer, start: number, length: number, offset: number, name: string): number {
  const first = h[start] as number;
  if (first & 0x80) {
    if (first === 0xff) throw invalid(offset, `negative ${name}`);
    let v = first & 0x7f;
    for (let i = start + 1; i < start + length; i++) {
      v = v * 256 + (h[i] as number);
      if (v > Number.MAX_SAFE_INTEGER) throw invalid(offset, `${name} too large`);
    }
    return v;
  }
  const text = h
    .toString('ascii', start, start + length)
    .replace(/[\0 ]+$/, '')
    .replace(/^ +/, '');
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text))
    throw invalid(offset, `${name} field ${JSON.stringify(text)} is not octal`);
  const v = parseInt(text, 8);
  if (!Number.isSafeInteger(v)) throw invalid(offset, `${name} too large`);
  return v;
}

/** True for a block of zeros (end-of-archive marker half). */
export function isZeroBlock(h: Uint8Array): boolean {
  for (let i = 0; i < h.length; i++) if (h[i] !== 0) return false;
  return true;
}

/**
 * Decode one header block: checksum verified (unsigned, or the signed sum some old tars
 * wrote), ustar or GNU magic required, numeric fields validated.
 * @throws OcikitError `OCIKIT_ARCHIVE_INVALID`
 */
export function decodeHeader(h: Buffer, offset: number): RawHeader {
  const stored = h
    .toString('ascii', 148, 156)
    .replace(/[\0 ]+$/, '')
    .replace(/^ +/, '');
  if (!/^[0-7]{1,7}$/.test(stored)) throw invalid(offset, 'the checksum field is not octal');
  const sum = parseInt(stored, 8);
  if (sum !== checksum(h) && sum !== signedChecksum(h))
    throw invalid(offset, 'header checksum mismatch');
  const magic = h.toString('latin1', 257, 265);
  const isUstar = magic === USTAR_MAGIC || magic.startsWith('ustar\0');
  if (!isUstar && magic !== GNU_MAGIC) throw invalid(offset, 'not a ustar, pax or GNU tar header');
  let name = field(h, 0, 100);
  if (isUstar) {
    const prefix = field(h, 345, 155);
    if (prefix !== '') name = `${prefix}/${name}`;
  }
  const typeflag = String.fromCharCode(h[156] as number);
  return {
    name,
    mode: numeric(h, 100, 8, offset, 'mode'),
    size: numeric(h, 124, 12, offset, 'size'),
    typeflag,
    linkname: field(h, 157, 100),
    offset,
  };
}

/**
 * Parse a pax extended header body into key/value pairs.
 * @throws OcikitError `OCIKIT_ARCHIVE_INVALID`
 */
export function parsePax(body: Buffer, offset: number): Map<string, string> {
  const out = new Map<string, string>();
  let i = 0;
  while (i < body.length) {
    if (body[i] === 0) break; // NUL padding some writers leave
    const space = body.indexOf(0x20, i);
    if (space < 0 || space - i > 20) throw invalid(offset, 'malformed pax record length');
    const lenText = body.toString('ascii', i, space);
    if (!/^[1-9][0-9]*$/.test(lenText)) throw invalid(offset, 'malformed pax record length');
    const len = Number(lenText);
    const end = i + len;
    if (end > body.length || body[end - 1] !== 0x0a) throw invalid(offset, 'malformed pax record');
    const record = body.toString('utf8', space + 1, end - 1);
    const eq = record.indexOf('=');
    if (eq <= 0) throw invalid(offset, 'malformed pax record (no key)');
    out.set(record.slice(0, eq), record.slice(eq + 1));
    i = end;
  }
  return out;
}
