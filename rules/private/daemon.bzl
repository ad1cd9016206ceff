"""Which docker daemon a buildx_build action talks to, and what that means for where it may run.

A `unix://` (or `ssh://`, `npipe://`, `fd://`) daemon exists only on the machine that runs the
action: the action is `no-remote` + `no-remote-exec`. A `tcp://` daemon is reached over the
network from wherever the action runs, with TLS material passed as inputs: the action may run
and be cached remotely, and is tagged `requires-network`.
"""

# The file names docker reads from DOCKER_CERT_PATH; the --@ocikit//:docker_tls filegroup holds them.
_TLS_NAMES = ["ca.pem", "cert.pem", "key.pem"]

DAEMON_ATTRS = {
    "tls_ca": attr.label(
        allow_single_file = True,
        doc = "With `tls_cert` and `tls_key`, for a `tcp://` `docker_host`: the CA certificate (PEM) that signed the daemon's certificate (docker's `--tlscacert`). An input of the action. Default: `ca.pem` of `--@ocikit//:docker_tls`.",
    ),
    "tls_cert": attr.label(
        allow_single_file = True,
        doc = "The client certificate (PEM) for a `tcp://` daemon (docker's `--tlscert`). Default: `cert.pem` of `--@ocikit//:docker_tls`.",
    ),
    "tls_key": attr.label(
        allow_single_file = True,
        doc = "The client key (PEM) for a `tcp://` daemon (docker's `--tlskey`). An input of the action: linked into the action's private temporary directory, never copied into an output or printed. Default: `key.pem` of `--@ocikit//:docker_tls`.",
    ),
    "_docker_tls": attr.label(default = Label("//:docker_tls")),
}

def _check_host(ctx, rule, host, required):
    if (host or required) and "://" not in host:
        fail("%s %s: docker_host %r is not a docker host address; write SCHEME://ADDRESS, e.g. \"tcp://builder.example:2376\" or \"unix:///run/docker.sock\"" % (rule, ctx.label, host))

def tls_files(ctx, rule, host):
    """The TLS material for a daemon: tls_ca/tls_cert/tls_key, else --@ocikit//:docker_tls.

    Args:
      ctx: rule context (the rule has DAEMON_ATTRS).
      rule: the rule's name, for messages.
      host: DOCKER_HOST ("" when the environment decides: then no TLS material is allowed).

    Returns:
      [ca, cert, key] Files, or [] when the daemon gets no TLS material.
    """
    _check_host(ctx, rule, host, required = False)
    attrs = [ctx.file.tls_ca, ctx.file.tls_cert, ctx.file.tls_key]
    given = [f for f in attrs if f]
    if given:
        if len(given) != 3:
            fail("%s %s: tls_ca, tls_cert and tls_key go together; set all three (PEM files) or none" % (rule, ctx.label))
        if not host.startswith("tcp://"):
            fail("%s %s: tls_ca/tls_cert/tls_key are for a tcp:// docker daemon, but docker_host is %r; set docker_host = \"tcp://HOST:PORT\" or drop them" % (rule, ctx.label, host))
        return attrs

    # The flag's filegroup applies to tcp:// daemons only: a .bazelrc may set it for the team's
    # builder while some targets still build on the local socket.
    flag_files = ctx.attr._docker_tls[DefaultInfo].files.to_list()
    if not flag_files or not host.startswith("tcp://"):
        return []
    by_name = {}
    for f in flag_files:
        if f.basename in _TLS_NAMES:
            if f.basename in by_name:
                fail("%s %s: --@ocikit//:docker_tls holds two files named %s (%s, %s); give one of each of %s" % (rule, ctx.label, f.basename, by_name[f.basename].short_path, f.short_path, ", ".join(_TLS_NAMES)))
            by_name[f.basename] = f
    missing = [n for n in _TLS_NAMES if n not in by_name]
    if missing:
        fail("%s %s: --@ocikit//:docker_tls must hold files named %s (docker's DOCKER_CERT_PATH names); missing %s" % (rule, ctx.label, ", ".join(_TLS_NAMES), ", ".join(missing)))
    return [by_name[n] for n in _TLS_NAMES]

def daemon_endpoint(ctx, rule, host):
    """The daemon a buildx_build action talks to.

    Args:
      ctx: rule context (the rule has DAEMON_ATTRS).
      rule: the rule's name, for messages.
      host: DOCKER_HOST (the attribute, else the flag).

    Returns:
      struct(tls: [ca, cert, key] Files or [], remote: whether the action may run remotely,
      execution_requirements: dict for the action)
    """
    _check_host(ctx, rule, host, required = True)
    tls = tls_files(ctx, rule, host)
    if host.startswith("tcp://"):
        # Reached over the network from any machine: no local socket, so remote execution
        # and remote caching are allowed (the key holds DOCKER_HOST and the TLS files).
        execution_requirements = {"requires-network": "1"}
    else:
        # The socket exists only on this machine, and the result depends on that daemon,
        # which the action key does not name: never run or cache it remotely.
        execution_requirements = {"no-remote": "1", "no-remote-exec": "1"}
    return struct(
        tls = tls,
        remote = host.startswith("tcp://"),
        execution_requirements = execution_requirements,
    )
