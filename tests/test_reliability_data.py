"""Converters and their input (issue 20): a list file that is not UTF-8 is named with its line, JSON
that does not parse likewise; a conversion that stores nothing exits with status 2 and leaves no
empty output (BVLC's convert_imageset exits 0 with an empty database)."""
import os

import cv2
import numpy as np
import pytest

from fashioncaffe import cli

LATIN1 = "caf\u00e9".encode("latin-1")      # b'caf\xe9': not UTF-8


def _img(path, seed=0):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    cv2.imwrite(str(path), np.random.default_rng(seed).integers(0, 256, (12, 10, 3), dtype=np.uint8))


def test_convert_imageset_non_utf8_list_names_file_and_line(tmp_path, capsys):
    _img(tmp_path / "a.png")
    (tmp_path / "list.txt").write_bytes(b"a.png 0\na.png 1\nimg_" + LATIN1 + b".png 2\n")
    rc = cli.main(["convert_imageset", f"{tmp_path}/", str(tmp_path / "list.txt"), str(tmp_path / "db")])
    err = capsys.readouterr().err
    assert rc == 2 and f"{tmp_path}/list.txt:3: column 8 holds byte(s) e9" in err and "iconv" in err
    assert "Traceback" not in err


def test_convert_imageset_that_reads_no_image_fails(tmp_path, capsys):
    (tmp_path / "list.txt").write_text("missing1.png 0\nmissing2.png 1\n")
    rc = cli.main(["convert_imageset", f"{tmp_path}/", str(tmp_path / "list.txt"), str(tmp_path / "db")])
    err = capsys.readouterr().err
    assert rc == 2 and "none of the 2 images listed in" in err and "No database was written" in err
    assert not (tmp_path / "db").exists()


def test_convert_imageset_partial_success_exits_0_and_says_how_many_failed(tmp_path, capsys):
    _img(tmp_path / "a.png")
    (tmp_path / "list.txt").write_text("a.png 0\nmissing.png 1\n")
    rc = cli.main(["convert_imageset", f"{tmp_path}/", str(tmp_path / "list.txt"), str(tmp_path / "db")])
    err = capsys.readouterr().err
    assert rc == 0 and "1 of the 2 listed images could not be read" in err       # as BVLC: what could be read


def _df_list(path, header, rows):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(f"{len(rows)}\n{header}\n".encode())
        for r in rows:
            f.write((r if isinstance(r, bytes) else r.encode()) + b"\n")


def _c2s_root(tmp_path, rows, images=True):
    root = tmp_path / "c2s"
    for i in range(2):
        if images:
            _img(root / f"img/c{i}.jpg", i)
            _img(root / f"img/s{i}.jpg", 10 + i)
    _df_list(root / "Eval/list_eval_partition.txt", "image_pair_name_1  image_pair_name_2  item_id  evaluation_status",
             rows)
    return root


def test_converter_non_utf8_list_names_file_and_line(tmp_path, capsys):
    from data_prep import consumer_to_shop as m

    rows = ["img/c0.jpg  img/s0.jpg  id_1  train", b"img/c1.jpg  img/" + LATIN1 + b".jpg  id_2  train"]
    root = _c2s_root(tmp_path, rows)
    rc = m.main(["--root", str(root), "--out", str(tmp_path / "out"), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and "Eval/list_eval_partition.txt:4: column 20 holds byte(s) e9" in err
    assert "not valid UTF-8" in err and "Traceback" not in err


def test_converter_whose_every_row_is_bad_fails(tmp_path, capsys):
    from data_prep import consumer_to_shop as m

    root = _c2s_root(tmp_path, ["img/c0.jpg  img/s0.jpg  id_1  train", "img/c1.jpg  img/s1.jpg  id_2  test"],
                     images=False)
    out = tmp_path / "out"
    rc = m.main(["--root", str(root), "--out", str(out), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and "Nothing was converted" in err and "4 bad row(s)" in err
    assert "The first: " in err and "c0.jpg" in err
    assert not any(out.glob("*/meta.json"))


def test_converter_json_that_does_not_parse_names_line(tmp_path, capsys):
    from data_prep import eclothing as m

    root = tmp_path / "ecl"
    _img(root / "images/0.jpg")
    (root / "catalog.json").write_text('{"Color": ["black", "red"],\n "Sleeve": ["short" "long"]}\n')
    (root / "labels.txt").write_text("images/0.jpg\tred\ttrain\n")
    rc = m.main(["--root", str(root), "--out", str(tmp_path / "out"), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and f"{root}/catalog.json:2: column" in err and "not valid JSON" in err
