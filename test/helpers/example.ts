/**
 * The bundled example layout (examples/hello): tag `hello` is a two-platform index whose
 * linux/arm64 image has zero layers (FROM scratch); tag `hello-amd64` is a single image.
 * test/example.ts checks the committed copy is exactly what this generates.
 */
import { LayoutBuilder, tagged } from './layout-builder.js';

export function writeExampleLayout(dir: string): void {
  const b = new LayoutBuilder(dir);
  const amd64 = b.image({
    platform: { os: 'linux', architecture: 'amd64' },
    layers: [
      { 'hello.txt': 'Hello from an OCI layout that ocikit reads without writing to it.\n' },
    ],
    annotations: { 'org.opencontainers.image.title': 'hello' },
  });
  const arm64 = b.image({ platform: { os: 'linux', architecture: 'arm64' }, layers: [] });
  const index = b.index([amd64, arm64], {
    'org.opencontainers.image.description': 'ocikit example: amd64 with one layer, arm64 scratch',
  });
  const { platform: _p, ...amd64Plain } = amd64;
  b.writeIndex([tagged(index, 'hello'), tagged(amd64Plain, 'hello-amd64')]);
}
