#!/usr/bin/env python3
"""Console text lost by a late reader: QEMU's socket chardev against its pipe chardev.

Boots the kumo guest image (TCG) with a chatty kernel (initcall_debug) and
reads its serial console every STALL ms, as a busy kumod would, through
either chardev; then counts the kernel lines in QEMU's console.log whose
"[    1.234567] " timestamp came out garbled (characters dropped or doubled).
kumod used the socket until 2026-12-02 and uses the pipe (FIFOs) since:
docs/kumod.md, "Serial console".

    bench/console_fifo_loss.py [--image-dir build/guest-image] [--stall-ms 0,10,30,300]

Every QEMU it starts is killed by its pid; nothing leaves the machine.
"""
import argparse
import fcntl
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time

F_SETPIPE_SZ = 1031
TIMESTAMP = re.compile(r"^\[\s{0,4}\d+\.\d{6}\] ")


def boot(image_dir, chardev_kind, stall_ms, seconds, workdir):
    log = os.path.join(workdir, "console.log")
    if chardev_kind == "socket":
        chardev = f"socket,id=console,path={workdir}/console.sock,server=on,wait=off,logfile={log}"
    else:
        os.mkfifo(f"{workdir}/console.in")
        os.mkfifo(f"{workdir}/console.out")
        out = os.open(f"{workdir}/console.out", os.O_RDONLY | os.O_NONBLOCK)
        fcntl.fcntl(out, F_SETPIPE_SZ, 1 << 20)  # as kumod's broker does
        chardev = f"pipe,id=console,path={workdir}/console,logfile={log}"
    argv = ["qemu-system-x86_64", "-accel", "tcg", "-m", "256", "-display", "none",
            "-nodefaults", "-no-reboot",
            "-kernel", f"{image_dir}/vmlinuz", "-initrd", f"{image_dir}/initrd.img",
            "-append", "console=ttyS0 loglevel=8 initcall_debug",
            "-chardev", chardev, "-serial", "chardev:console"]
    qemu = subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                            stderr=open(f"{workdir}/qemu.log", "w"))
    try:
        if chardev_kind == "socket":
            sock = socket.socket(socket.AF_UNIX)
            for _ in range(500):
                try:
                    sock.connect(f"{workdir}/console.sock")
                    break
                except OSError:
                    time.sleep(0.01)
            sock.setblocking(False)
            read = lambda: sock.recv(65536)
        else:
            read = lambda: os.read(out, 65536)
        end = time.time() + seconds
        while time.time() < end:
            try:
                read()
            except BlockingIOError:
                pass
            time.sleep(max(stall_ms, 1) / 1000.0)
    finally:
        qemu.kill()
        qemu.wait()
    text = open(log, "rb").read().decode("latin-1")
    lines = [line for line in text.split("\n") if line.startswith("[")]
    garbled = [line for line in lines if not TIMESTAMP.match(line)]
    return len(text), len(lines), len(garbled)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--image-dir", default="build/guest-image")
    parser.add_argument("--stall-ms", default="0,10,30,300")
    parser.add_argument("--seconds", type=float, default=12)
    args = parser.parse_args()
    print("| chardev | reader reads every | console bytes | kernel lines | garbled lines |")
    print("| --- | --- | --- | --- | --- |")
    for stall in [int(s) for s in args.stall_ms.split(",")]:
        for kind in ("socket", "pipe"):
            workdir = tempfile.mkdtemp(prefix="kumo-console-loss-")
            try:
                size, lines, garbled = boot(args.image_dir, kind, stall, args.seconds, workdir)
            finally:
                shutil.rmtree(workdir, ignore_errors=True)
            print(f"| {kind} | {stall} ms | {size:,} | {lines:,} | {garbled:,} |", flush=True)


if __name__ == "__main__":
    main()
