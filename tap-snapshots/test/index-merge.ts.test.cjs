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
  "blobList": [
    {
      "digest": "sha256:23792d7dbe1afd4184087c352b025329ca981a08e20ecc516bc16030cf448a9c",
      "how": "copied",
      "size": 89,
      "source": "arm64:app"
    },
    {
      "digest": "sha256:2998e9ee760d2cdbb1e185988c0258391ef027717b13e4b9914a26214ac6f535",
      "how": "copied",
      "size": 89,
      "source": "amd64:app"
    },
    {
      "digest": "sha256:69a95a8143664dc9e3b67c72909622f527f829d179154f0247c517db3e315ec1",
      "how": "copied",
      "size": 447,
      "source": "amd64:app"
    },
    {
      "digest": "sha256:75ea8c2f8a93e489ee9f57eff659db70172a863c5005d1595a3ddb4ccd34c220",
      "how": "copied",
      "size": 447,
      "source": "arm64:app"
    },
    {
      "digest": "sha256:98e64b9cb94c79eb0fe59faa62f4af3f82a883530a62010eae778b092a397767",
      "how": "copied",
      "size": 163,
      "source": "amd64:app"
    },
    {
      "digest": "sha256:d34e579b8afa1875a602d4d96315a9aff202754e7c03f68df42408715fa769a1",
      "how": "written",
      "size": 633
    },
    {
      "digest": "sha256:d7686e38223ba9542303a6b66e5caa4f782c607e869cb6e642e9c847b1d7bb4b",
      "how": "copied",
      "size": 163,
      "source": "arm64:app"
    }
  ],
  "blobs": {
    "copied": 6,
    "linked": 0,
    "total": 7,
    "verified": 6,
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
