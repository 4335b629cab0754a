"""An ExifTool stand-in for live tests: answers ``-ver``, and in ``-stay_open`` mode (the way `uploads.exiftool`
runs it) answers a read (``-json``: no tag found) at once, and each other command after sleeping
``SLOW_EXIFTOOL_SECONDS``, as if the file needed that long; that command changes nothing (ExifTool's "1 image files
unchanged", exit status 0). In the directory ``SLOW_EXIFTOOL_MARKS`` it
creates ``started-N`` when the N-th command arrives and ``done-N`` when it is answered.

Run as ``python slow_exiftool.py ARGS``, through a wrapper script named by ``EXIFTOOL_PATH``.
"""

import os
import sys
import time
from pathlib import Path


def serve() -> None:
    seconds = float(os.environ.get("SLOW_EXIFTOOL_SECONDS", "1"))
    marks = Path(os.environ["SLOW_EXIFTOOL_MARKS"])
    command: list[str] = []
    number = 0
    for line in sys.stdin:
        argument = line.rstrip("\n")
        if command[-1:] == ["-stay_open"] and argument == "False":
            return
        if argument != "-execute":
            command.append(argument)
            continue
        if "-json" in command:  # a read (which tags are there): nothing found, at once
            sys.stdout.write(f'[{{"SourceFile": "{command[-1]}"}}]\n0\n{{ready}}\n')
            sys.stdout.flush()
            sys.stderr.write("{stderr-ready}\n")
            sys.stderr.flush()
            command = []
            continue
        number += 1
        (marks / f"started-{number}").touch()
        time.sleep(seconds)
        sys.stdout.write("    1 image files unchanged\n0\n{ready}\n")
        sys.stdout.flush()
        sys.stderr.write("{stderr-ready}\n")
        sys.stderr.flush()
        (marks / f"done-{number}").touch()
        command = []


if __name__ == "__main__":
    if sys.argv[1:] == ["-ver"]:
        print("13.25")
    else:
        serve()
