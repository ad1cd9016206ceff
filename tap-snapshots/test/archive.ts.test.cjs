/* IMPORTANT
 * This snapshot file is auto-generated, but designed for humans.
 * It should be checked into source control and tracked carefully.
 * Re-generate by setting TAP_SNAPSHOT=1 and running tests.
 * Make sure to inspect the output below.  Do not ignore changes!
 */
'use strict'
exports[`test/archive.ts > TAP > pack: byte-identical across runs and across copies of the layout (paths, mtimes, modes differ) > sha256 of the packed standard layout (changes only when the format does) 1`] = `
b1d655a038af5387d5457ad0a9d81dc95c1b0ce16c9e81abc94cf64556332558
`
