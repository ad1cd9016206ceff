/** Sizes on the command line: `--max-bytes 68719476736`, `64G`, `512M`, `1.5T` is refused. */
import { ErrorCode, OcikitError, quote } from '../errors.js';

const UNITS: Record<string, number> = { '': 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 };

/**
 * A positive whole number of bytes, optionally with a binary suffix: K, M, G or T (powers of
 * 1024), optionally followed by `iB` or `B` (`64G`, `64GiB`, `64GB` are all 2^36); case is
 * ignored.
 * @param flag how messages name the option, e.g. `--max-bytes`
 * @throws OcikitError `OCIKIT_USAGE`
 */
export function parseByteSize(text: string, flag: string): number {
  const m = /^([0-9]{1,16})(?:([KMGT])(?:i?B)?|B)?$/i.exec(text.trim());
  const unit = UNITS[(m?.[2] ?? '').toUpperCase()];
  const value = m !== null && unit !== undefined ? Number(m[1]) * unit : NaN;
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new OcikitError(ErrorCode.Usage, `${flag} ${quote(text)} is not a size`, {
      hint: `Pass a positive whole number of bytes, optionally with K, M, G or T (powers of 1024): ${flag} 64G.`,
      details: { flag, value: text },
    });
  }
  return value;
}
