"""Running the command line in the test's process, and what a refusal must look like."""
from adaptres.cli import main


def cli(argv, capsys):
    """``adaptres argv`` in this process: (exit status, standard output, standard error)."""
    try:
        rc = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse's usage errors
        rc = exc.code
    out = capsys.readouterr()
    return rc, out.out, out.err


def refused(result, *words, rc=2):
    """A refusal: exit status ``rc``, one line on standard error with each of ``words``, no traceback."""
    code, _, err = result
    assert code == rc, (code, err)
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    for w in words:
        assert w in err, (w, err)
    return err
