/* IMPORTANT
 * This snapshot file is auto-generated, but designed for humans.
 * It should be checked into source control and tracked carefully.
 * Re-generate by setting TAP_SNAPSHOT=1 and running tests.
 * Make sure to inspect the output below.  Do not ignore changes!
 */
'use strict'
exports[`test/buildx-args.ts > TAP > ocikit buildx-args: the complete invocation, deterministic > argv json 1`] = `
["docker","buildx","build","--platform","linux/amd64,linux/arm64","--build-context","base=oci-layout://<root>/ctx/base:multi@sha256:0709c2e1693852b7a9947fef2c8071d9f697674ad053b3dabdc4984ed4758431","--build-context","other=docker-image://alpine:3.20","--annotation","index:org.opencontainers.image.title=app","--tag","app:1","--output","type=oci,dest=result,tar=false","--provenance","false","app"]

`
