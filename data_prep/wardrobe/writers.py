"""Writers for the real datasets' list-file formats.

DeepFashion lists: line 1 = number of rows, line 2 = space separated header, then rows whose
columns are separated by runs of spaces (names padded like the published files; attribute names
contain single spaces, so they are always followed by at least two spaces)."""
import os


def _pad(name, width):
    return name + " " * max(2, width - len(name))


def write_df_list(path, header, rows, first_width=None, count=None):
    """rows: list of lists; the first column is padded (DeepFashion style)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if first_width is None:
        first_width = max([len(str(r[0])) for r in rows] + [20]) + 8
    with open(path, "w", newline="\n") as f:
        f.write(f"{len(rows) if count is None else count}\n{header}\n")
        for r in rows:
            f.write(_pad(str(r[0]), first_width) + " ".join(str(c) for c in r[1:]) + "\n")


def fmt3(v):
    return f"{int(v):03d}"


def attr_values(vec):
    return " ".join(f"{int(v):>2d}" for v in vec)


def landmark_cols(lms):
    return " ".join(f"{v} {fmt3(x)} {fmt3(y)}" for v, x, y in lms)


def landmark_header(n=8, variation=False):
    cols = ["image_name", "clothes_type"] + (["variation_type"] if variation else [])
    for k in range(1, n + 1):
        cols += [f"landmark_visibility_{k}", f"landmark_location_x_{k}",
                 f"landmark_location_y_{k}"]
    return "  ".join(cols)


def write_lines(path, lines):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", newline="\n") as f:
        for line in lines:
            f.write(line + "\n")
