"""Describes a directory tree by what a copy must keep: type, mode (with the
setuid, setgid and sticky bits), owner, mtime, symlink targets, content
hashes and which names are hardlinks of each other."""
import hashlib
import os
import stat


def file_sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            block = f.read(1 << 20)
            if not block:
                return digest.hexdigest()
            digest.update(block)


def snapshot(root, skip=(), owners=True):
    """Returns {relative name: tuple of facts}; the root itself is ".". Names
    in skip are left out (e.g. a FIFO the copy skips)."""
    facts = {}
    first_link = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in ["."] if dirpath == root else []:
            facts["."] = describe(root, ".", owners, first_link)
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root)
            if rel in skip:
                continue
            facts[rel] = describe(full, rel, owners, first_link)
    return facts


def describe(path, rel, owners, first_link):
    st = os.lstat(path)
    kind = stat.S_IFMT(st.st_mode)
    fact = {"type": kind, "mode": oct(stat.S_IMODE(st.st_mode)), "mtime_ns": st.st_mtime_ns}
    if owners:
        fact["owner"] = (st.st_uid, st.st_gid)
    if stat.S_ISLNK(st.st_mode):
        fact["target"] = os.readlink(path)
    elif stat.S_ISREG(st.st_mode):
        fact["sha256"] = file_sha256(path)
        fact["size"] = st.st_size
        if st.st_nlink > 1:
            fact["link_group"] = first_link.setdefault((st.st_dev, st.st_ino), rel)
    return tuple(sorted(fact.items()))
