"""Write a hand-made initramfs (a newc cpio archive) for the end-to-end tests.

Usage:
    image = Initramfs()
    image.add_file("/init", "/usr/bin/busybox", mode=0o755)
    image.add_symlink("/bin/sh", "busybox")
    image.add_data("/etc/ember/config.json", b"{}")
    image.write("initrd.cpio")

Every entry is owned by root, whatever owns the source file on the host, and
parent directories are added on demand. Entries are written in the order they
were first added, directories before their contents.
"""
import os
import stat

NEWC_MAGIC = b"070701"
# newc headers and file data are padded to 4-byte boundaries.
NEWC_ALIGN = 4


def _pad(length):
    return b"\0" * (-length % NEWC_ALIGN)


class Initramfs:
    def __init__(self):
        self.entries = {}

    def _parents(self, path):
        parent = os.path.dirname(path)
        if parent not in ("/", "") and parent not in self.entries:
            self.add_dir(parent)

    def add_dir(self, path, mode=0o755):
        self._parents(path)
        self.entries.setdefault(path, (stat.S_IFDIR | mode, b""))

    def add_data(self, path, data, mode=0o644):
        self._parents(path)
        if isinstance(data, str):
            data = data.encode()
        self.entries[path] = (stat.S_IFREG | mode, data)

    def add_file(self, path, source, mode=None):
        with open(source, "rb") as f:
            data = f.read()
        if mode is None:
            mode = stat.S_IMODE(os.stat(source).st_mode)
        self.add_data(path, data, mode)

    def add_symlink(self, path, target):
        self._parents(path)
        self.entries[path] = (stat.S_IFLNK | 0o777, target.encode())

    def add_tree(self, path, source):
        """Adds the directory SOURCE, recursively, as PATH (symlinks kept)."""
        self.add_dir(path)
        for name in sorted(os.listdir(source)):
            host = os.path.join(source, name)
            guest = f"{path.rstrip('/')}/{name}"
            if os.path.islink(host):
                self.add_symlink(guest, os.readlink(host))
            elif os.path.isdir(host):
                self.add_tree(guest, host)
            elif os.path.isfile(host):
                self.add_file(guest, host)

    def extract(self, directory):
        """Writes the entries as files under DIRECTORY (for an ext4 image)."""
        os.makedirs(directory, exist_ok=True)
        for name, (mode, data) in self.entries.items():
            target = os.path.join(directory, name.lstrip("/"))
            kind = stat.S_IFMT(mode)
            if kind == stat.S_IFDIR:
                os.makedirs(target, exist_ok=True)
                os.chmod(target, stat.S_IMODE(mode))
            elif kind == stat.S_IFLNK:
                os.symlink(data.decode(), target)
            else:
                with open(target, "wb") as f:
                    f.write(data)
                os.chmod(target, stat.S_IMODE(mode))

    def write(self, path):
        with open(path, "wb") as out:
            for inode, (name, (mode, data)) in enumerate(self.entries.items(), start=1):
                self._write_entry(out, inode, name.lstrip("/"), mode, data)
            self._write_entry(out, 0, "TRAILER!!!", 0, b"")

    @staticmethod
    def _write_entry(out, inode, name, mode, data):
        encoded = name.encode() + b"\0"
        fields = [inode, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(encoded), 0]
        header = NEWC_MAGIC + b"".join(b"%08x" % value for value in fields)
        out.write(header + encoded + _pad(len(header) + len(encoded)))
        out.write(data + _pad(len(data)))
