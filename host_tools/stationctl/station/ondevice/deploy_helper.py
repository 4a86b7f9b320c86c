# MicroPython code that stationctl sends to a station over the raw REPL (never imported on the
# host). Defines the _sc* helpers used by deploy, configure and verify in one REPL session.
# Names start with _sc so that they cannot clash with what a technician types at the REPL.
import binascii
import hashlib
import os
import sys


def _scsha(p):
    h = hashlib.sha256()
    b = bytearray(512)
    with open(p, "rb") as f:
        while True:
            n = f.readinto(b)
            if not n:
                break
            h.update(b if n == 512 else b[:n])
    return binascii.hexlify(h.digest()).decode()


def _schash(paths, n=64):
    # {path: first n hex digits of sha256, or None when missing}
    r = {}
    for p in paths:
        try:
            r[p] = _scsha(p)[:n]
        except OSError:
            r[p] = None
    print(repr(r))


def _scwalk(top, out):
    for e in os.ilistdir(top):
        p = (top if top != "/" else "") + "/" + e[0]
        if e[1] & 0x4000:
            _scwalk(p, out)
        else:
            out.append(p)
    return out


def _scls():
    print(repr(_scwalk("/", [])))


def _scmkdirs(dirs):
    for d in dirs:
        try:
            os.mkdir(d)
        except OSError as e:
            if e.args[0] != 17:  # EEXIST
                raise


def _scrm(paths):
    for p in paths:
        try:
            os.remove(p)
        except OSError:
            pass


def _scinfo():
    try:
        import deflate  # noqa: F401

        z = 1
    except ImportError:
        z = 0
    try:
        st = os.statvfs("/")
        free = st[0] * st[3]
    except (OSError, AttributeError):
        free = -1
    import gc

    uid = None
    try:
        import machine

        uid = binascii.hexlify(machine.unique_id()).decode()
    except (ImportError, AttributeError):
        try:
            from sim import board  # the simulated station (stationctl sim-device)

            uid = board.current().uid
        except ImportError:
            pass
    gc.collect()
    print(
        repr(
            {
                "mpy": getattr(sys.implementation, "_mpy", None),
                "version": sys.version,
                "ram": gc.mem_free(),
                "uid": uid,
                "impl": sys.implementation.version[:3],
                "platform": sys.platform,
                "deflate": z,
                "free": free,
            }
        )
    )


def _screcv(path, n, block, idle_ms=5000):
    # Read n escaped bytes from stdin into path; ack each block with 0x06. The escape
    # (0x1b 0x5b -> 0x1b, 0x1b 0x43 -> 0x03) keeps Ctrl-C out of the stream, so a raw Ctrl-C
    # is the host saying stop, and idle_ms without a byte means the host is gone (killed, cable
    # pulled): either ends the receiver, so the station never stays stuck in here.
    import select

    inp = sys.stdin.buffer
    out = sys.stdout
    poll = select.poll()
    poll.register(sys.stdin, select.POLLIN)
    buf = bytearray(block)
    esc = False
    with open(path, "wb") as f:
        while n > 0:
            k = block if n > block else n
            w = 0
            for _ in range(k):
                if not poll.poll(idle_ms):
                    raise OSError(110)  # ETIMEDOUT: no byte from the host within idle_ms
                c = inp.read(1)[0]
                if c == 3:
                    raise KeyboardInterrupt
                if esc:
                    buf[w] = 0x1B if c == 0x5B else 3
                    w += 1
                    esc = False
                elif c == 0x1B:
                    esc = True
                else:
                    buf[w] = c
                    w += 1
            n -= k
            f.write(memoryview(buf)[:w])
            out.write("\x06")


def _scunpack(path, z, items):
    # items: [(final_path, size, sha256 prefix)]: the bundle at path holds them back to back
    # (zlib if z); each goes to final_path + ".dtmp"
    src = open(path, "rb")
    if z:
        import deflate

        src = deflate.DeflateIO(src, deflate.ZLIB)
    buf = bytearray(512)
    mv = memoryview(buf)
    for final, size, _sha in items:
        with open(final + ".dtmp", "wb") as f:
            while size > 0:
                k = src.readinto(mv[: 512 if size > 512 else size])
                if not k:
                    raise OSError(5)  # EIO: the bundle is short
                f.write(mv[:k])
                size -= k
    src.close()
    os.remove(path)


def _sccommit(items):
    # items: [(final_path, size, sha256 prefix)]: check every temp file, then rename each
    for final, _size, sha in items:
        if not _scsha(final + ".dtmp").startswith(sha):
            os.remove(final + ".dtmp")
            raise ValueError("hash mismatch after transfer: " + final)
    for final, _size, _sha in items:
        try:
            os.rename(final + ".dtmp", final)
        except OSError:
            os.remove(final)  # a filesystem that cannot rename over a file (FAT)
            os.rename(final + ".dtmp", final)
    print("committed", len(items))


def _scmanifest(path, head, paths):
    # Write the manifest from hashes computed here (the same text the host builds), remove
    # leftovers of interrupted deploys, print the manifest's own sha256 for the host to compare.
    lines = []
    for p in paths:
        try:
            h = _scsha(p)
        except OSError:
            h = "missing"
        lines.append(' "%s": "%s"' % (p, h))
    text = head + "\n" + ",\n".join(lines) + "\n}}\n"
    _scput(path, text)
    for p in _scwalk("/", []):
        if p.endswith(".dtmp") or p == "/.deploy.bundle":
            os.remove(p)
    print(repr(binascii.hexlify(hashlib.sha256(text.encode()).digest()).decode()))


def _scput(path, text):
    # small text file, atomically (temp + rename)
    tmp = path + ".sctmp"
    with open(tmp, "w") as f:
        f.write(text)
    try:
        os.rename(tmp, path)
    except OSError:
        os.remove(path)
        os.rename(tmp, path)


def _scget(path):
    try:
        with open(path) as f:
            print(repr(f.read()))
    except OSError:
        print("None")
