/**
 * Where the repository and the CLI bundle are. The e2e tests run the BUNDLED CLI only and do
 * not import src/ (test/helpers/cli.ts would load the whole CLI through ts-node).
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const BUNDLE = path.join(ROOT, 'dist', 'ocikit.cjs');
