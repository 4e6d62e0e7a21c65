"""Write generated prototxt/solver files, or check that the committed ones equal the generator's
output (the papers' NetSpec generators share this step)."""
import difflib
import os
import sys


def write_or_check(files, root, check, what):
    """``files`` maps repository-relative paths to text; returns the exit status for ``main``."""
    bad = 0
    for rel, text in sorted(files.items()):
        path = os.path.join(root, rel)
        if check:
            old = open(path).read() if os.path.exists(path) else ""
            if old != text:
                bad += 1
                sys.stdout.writelines(difflib.unified_diff(old.splitlines(True), text.splitlines(True), path,
                                                           "generated"))
        else:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write(text)
    if check:
        print(f"{len(files) - bad} of {len(files)} {what} files match the generator")
        return 1 if bad else 0
    print(f"wrote {len(files)} files under prototxt/{what}/ and solvers/{what}/")
    return 0
