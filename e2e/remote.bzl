"""@e2e_tcp_builder: the TLS builder test/e2e/bazel.sh starts, as a repository.

test/e2e/bazel.sh starts a second dockerd on tcp://127.0.0.1:PORT with --tlsverify (a CA, a
server certificate for IP:127.0.0.1 and a client certificate, all made by openssl in the test)
and passes `--repo_env=OCIKIT_E2E_TCP_BUILDER=DIR`, DIR holding `host` (the DOCKER_HOST) and the
client's `ca.pem`, `cert.pem`, `key.pem`. The repository copies those files (the actions read
them as inputs) and writes `host.bzl` with `DOCKER_HOST`. Without the variable its files are
made by a genrule that fails saying so: the targets that use them are `manual`.
"""

_ENV = "OCIKIT_E2E_TCP_BUILDER"
_FILES = ["ca.pem", "cert.pem", "key.pem"]

def _tcp_builder_repo_impl(rctx):
    d = rctx.os.environ.get(_ENV, "")
    if d:
        host = rctx.read(d + "/host").strip()

        # Copied, not linked: DIR is under /tmp, which sandboxed actions do not see (Bazel 7
        # gives each a private /tmp).
        for f in _FILES:
            rctx.file(f, rctx.read(d + "/" + f), executable = False)
        build = "exports_files(%r)\n" % _FILES
    else:
        host = "tcp://ocikit-e2e-tcp-builder.invalid:2376"
        build = """genrule(
    name = "no_tcp_builder",
    outs = {outs},
    cmd = "echo 'no TCP builder: test/e2e/bazel.sh starts one and sets --repo_env={env}' >&2; exit 1",
)
""".format(outs = repr(_FILES), env = _ENV)
    rctx.file("host.bzl", "\"\"\"DOCKER_HOST of the TLS builder.\"\"\"\n\nDOCKER_HOST = %r\n" % host)
    rctx.file("BUILD.bazel", "package(default_visibility = [\"//visibility:public\"])\n\n" + build)

tcp_builder_repo = repository_rule(
    implementation = _tcp_builder_repo_impl,
    doc = "Copies the client TLS files and the host of the TLS builder test/e2e/bazel.sh started.",
    environ = [_ENV],
    local = True,
)

def _tcp_builder_impl(_mctx):
    tcp_builder_repo(name = "e2e_tcp_builder")

tcp_builder = module_extension(
    implementation = _tcp_builder_impl,
    doc = "Creates @e2e_tcp_builder (see tcp_builder_repo).",
)
