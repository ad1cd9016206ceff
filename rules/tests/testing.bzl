"""Helpers of the rules' analysis tests (not part of the public API)."""

load("@bazel_skylib//lib:unittest.bzl", "analysistest", "asserts")

def action_of(env, mnemonic):
    """The one action of the target under test with this mnemonic (asserts there is one).

    Args:
      env: the analysistest env.
      mnemonic: the action's mnemonic.

    Returns:
      The action, or None.
    """
    found = [a for a in analysistest.target_actions(env) if a.mnemonic == mnemonic]
    asserts.equals(env, 1, len(found), "actions with mnemonic %s" % mnemonic)
    return found[0] if found else None

def file_write(env, suffix):
    """The one FileWrite action whose output name ends with suffix (asserts there is one).

    Args:
      env: the analysistest env.
      suffix: the end of the written file's name.

    Returns:
      The action, or None.
    """
    writes = [
        a
        for a in analysistest.target_actions(env)
        if a.mnemonic == "FileWrite" and a.outputs.to_list()[0].basename.endswith(suffix)
    ]
    asserts.equals(env, 1, len(writes), "writes of *%s" % suffix)
    return writes[0] if writes else None

def after(argv, flag):
    """The argument that follows `flag` in argv, or None.

    Args:
      argv: list of strings.
      flag: the flag.

    Returns:
      The next argument, or None.
    """
    for i in range(len(argv) - 1):
        if argv[i] == flag:
            return argv[i + 1]
    return None

def failure_test_impl(ctx):
    """Implementation of an analysis test that expects the target to fail with ctx.attr.message.

    Args:
      ctx: the test rule's context (attribute `message`).

    Returns:
      The test's providers.
    """
    env = analysistest.begin(ctx)
    asserts.expect_failure(env, ctx.attr.message)
    return analysistest.end(env)

failure_test = analysistest.make(
    failure_test_impl,
    expect_failure = True,
    attrs = {"message": attr.string(mandatory = True)},
)
