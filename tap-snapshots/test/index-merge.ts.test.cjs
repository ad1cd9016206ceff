/* IMPORTANT
 * This snapshot file is auto-generated, but designed for humans.
 * It should be checked into source control and tracked carefully.
 * Re-generate by setting TAP_SNAPSHOT=1 and running tests.
 * Make sure to inspect the output below.  Do not ignore changes!
 */
'use strict'
exports[`test/index-merge.ts > TAP > CLI: text and --json output > index --json 1`] = `
{
  "annotations": {
    "org.opencontainers.image.version": "1"
  },
  "blobs": {
    "copied": 0,
    "linked": 6,
    "total": 7,
    "written": 1
  },
  "descriptor": {
    "digest": "sha256:d34e579b8afa1875a602d4d96315a9aff202754e7c03f68df42408715fa769a1",
    "mediaType": "application/vnd.oci.image.index.v1+json",
    "size": 633
  },
  "manifests": [
    {
      "attestation": false,
      "digest": "sha256:69a95a8143664dc9e3b67c72909622f527f829d179154f0247c517db3e315ec1",
      "mediaType": "application/vnd.oci.image.manifest.v1+json",
      "platform": "linux/amd64",
      "source": "amd64:app"
    },
    {
      "attestation": false,
      "digest": "sha256:75ea8c2f8a93e489ee9f57eff659db70172a863c5005d1595a3ddb4ccd34c220",
      "mediaType": "application/vnd.oci.image.manifest.v1+json",
      "platform": "linux/arm64",
      "source": "arm64:app"
    }
  ],
  "out": "merged2",
  "tags": [
    "app"
  ],
  "warnings": []
}

`
