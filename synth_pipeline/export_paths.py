"""Where an export may be written, and writing there so that nothing is half-written.

The rules, for a file and for the Hugging Face folder and every file in it:

- an existing target is refused unless `overwrite` is given, and a read-only file always;
- a symbolic link is never followed nor replaced (the target itself, or anything the `hf`
  folder would write through);
- the warehouse file, the Dagster instance folder and the dataset folders (and anything
  inside them) are never targets, whatever path or link leads to them;
- data goes to a temporary name in the target's own folder and is renamed into place, so a
  failed export leaves no partial file; a new `hf` folder appears whole or not at all;
- files and folders are created with the user's umask (0644 / 0755 by default);
- missing parent folders are created, but never a folder at the filesystem root.
"""

from __future__ import annotations

import errno
import os
import secrets
import shutil
import stat
from collections.abc import Callable, Sequence
from pathlib import Path

from synth_pipeline.paths import dagster_home, data_dir, default_warehouse

Writer = Callable[[Path], None]


class ExportError(RuntimeError):
    """An export cannot be made; the message says why and what to do."""


class ExportPathError(ExportError):
    """The export target is not a safe place to write."""


def _refuse(path: Path, why: str, todo: str) -> ExportPathError:
    return ExportPathError(f"refusing to export to {path}: {why}; {todo}")


def resolved(out: Path | str) -> Path:
    """The absolute path `out` names, with every link in its parent folders resolved (the
    last component is kept as given, so a link there is seen, not followed)."""
    out = Path(out)
    if out.name in ("", ".", ".."):
        return Path(os.path.realpath(out))
    return Path(os.path.realpath(out.parent)) / out.name


def protected_paths(warehouse: Path | None = None) -> list[tuple[Path, str]]:
    """(resolved path, what it is) of everything an export must never write to or into;
    a protected path that is itself a link is protected where it points too."""
    named: list[tuple[Path, str]] = []
    for wh in {default_warehouse(), *([Path(warehouse)] if warehouse else [])}:
        named.append((wh, "the warehouse (DuckDB file)"))
        named.append((wh.with_name(wh.name + ".wal"), "the warehouse's write-ahead log"))
    named.append((dagster_home(), "the Dagster instance folder"))
    root = data_dir()
    if root.is_dir():
        for folder in sorted(root.iterdir()):
            if (folder / "spec.yaml").is_file():
                named.append((folder, f"the dataset folder of {folder.name}"))
    out: list[tuple[Path, str]] = []
    for path, what in named:
        for real in {resolved(path), Path(os.path.realpath(path))}:
            out.append((real, what))
    return out


def _is_link(path: Path) -> bool:
    return path.is_symlink()


def _check_protected(path: Path, warehouse: Path | None) -> None:
    for protected, what in protected_paths(warehouse):
        if path == protected or path.is_relative_to(protected):
            where = what if path == protected else f"inside {what} ({protected})"
            raise _refuse(path, f"it is {where}", "write the export somewhere else")


def _check_parents(path: Path) -> None:
    """Missing parent folders may be created, except one at the filesystem root."""
    parent = path.parent
    while not parent.exists():
        if _is_link(parent):  # a dangling link: creating through it would follow it
            raise _refuse(path, f"{parent} is a symbolic link", "give the real path")
        if parent.parent == Path(parent.anchor):
            raise _refuse(
                path,
                f"it would create the folder {parent} at the filesystem root",
                "create the folder first or write somewhere else",
            )
        parent = parent.parent
    if not parent.is_dir():
        raise _refuse(path, f"{parent} is not a folder", "give a path inside a folder")


def _check_existing_file(path: Path, overwrite: bool) -> None:
    """The rules for one file that will be written at `path` (already resolved)."""
    if _is_link(path):
        raise _refuse(
            path,
            "it is a symbolic link (exports never follow nor replace links)",
            "give the real path",
        )
    if not path.exists():
        return
    if path.is_dir():
        raise _refuse(path, "it is a folder", "give a file name")
    if not overwrite:
        raise _refuse(path, "the file exists", "pass --overwrite (overwrite=True) to replace it")
    mode = path.stat().st_mode
    if not stat.S_ISREG(mode):
        raise _refuse(path, "it is not a regular file", "write somewhere else")
    if not (mode & 0o222) or not os.access(path, os.W_OK):
        raise _refuse(path, "the file is read-only", "make it writable first or write elsewhere")


def check_file_target(out: Path | str, overwrite: bool, warehouse: Path | None = None) -> Path:
    """The resolved path a file export may be written to, or ExportPathError saying why not."""
    path = resolved(out)
    _check_protected(path, warehouse)
    _check_existing_file(path, overwrite)
    _check_parents(path)
    return path


def _make_parents(path: Path) -> None:
    # mkdir's mode goes through the umask, as any folder the user creates.
    path.parent.mkdir(parents=True, exist_ok=True)


def _temporary(folder: Path, name: str) -> Path:
    """A new empty file beside the target, created with the umask (0644 by default)."""
    tmp = folder / f".{name}.{secrets.token_hex(6)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o666)
    os.close(fd)
    return tmp


def _commit_file(tmp: Path, path: Path, overwrite: bool) -> None:
    """Move a finished temporary file to `path`; without `overwrite` never replace anything."""
    if overwrite:
        _check_existing_file(path, overwrite=True)  # again: it may have changed meanwhile
        os.replace(tmp, path)
        return
    try:
        os.link(tmp, path)  # fails if anything (a file, a link) appeared at `path`: no clobber
    except FileExistsError:
        raise _refuse(
            path, "the file exists", "pass --overwrite (overwrite=True) to replace it"
        ) from None
    except OSError as e:  # a file system without hard links
        if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV, errno.EMLINK):
            raise
        if os.path.lexists(path):
            raise _refuse(
                path, "the file exists", "pass --overwrite (overwrite=True) to replace it"
            ) from None
        os.replace(tmp, path)
        return
    os.unlink(tmp)


def write_file(
    out: Path | str, write: Writer, *, overwrite: bool = False, warehouse: Path | None = None
) -> Path:
    """Write one export file by the rules above: `write(tmp)` fills a temporary file that is
    then renamed to the target. Returns the resolved path written."""
    path = check_file_target(out, overwrite, warehouse)
    _make_parents(path)
    tmp = _temporary(path.parent, path.name)
    try:
        write(tmp)
        _commit_file(tmp, path, overwrite)
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)
    return path


def check_folder_target(
    out: Path | str,
    files: Sequence[str],
    overwrite: bool,
    warehouse: Path | None = None,
    keep_out: str | Sequence[str] | None = None,
) -> Path:
    """The resolved folder a folder export may be written to. `files` are the relative paths
    it will write; `keep_out` a glob, or several, (relative to the folder) of files that must
    not be there besides them, since they would be read with the export (never deleted)."""
    folder = resolved(out)
    _check_protected(folder, warehouse)
    if _is_link(folder):
        raise _refuse(
            folder,
            "it is a symbolic link (exports never follow nor replace links)",
            "give the real path",
        )
    if not folder.exists():
        _check_parents(folder)
        if folder.parent == Path(folder.anchor):
            raise _refuse(
                folder,
                "it would create a folder at the filesystem root",
                "write somewhere else",
            )
        return folder
    if not folder.is_dir():
        raise _refuse(folder, "it exists and is not a folder", "give a new folder name")
    if not overwrite:
        raise _refuse(
            folder,
            "the folder exists",
            "pass --overwrite (overwrite=True) to replace the export's files in it",
        )
    for rel in files:
        path = folder / rel
        sub = path.parent
        while sub != folder:  # folders on the way must be real folders, not links
            if _is_link(sub) or (sub.exists() and not sub.is_dir()):
                raise _refuse(path, f"{sub} is a symbolic link or not a folder", "remove it")
            sub = sub.parent
        _check_existing_file(path, overwrite=True)
    if keep_out:
        ours = {folder / rel for rel in files}
        globs = [keep_out] if isinstance(keep_out, str) else list(keep_out)
        others = sorted({p for g in globs for p in folder.glob(g) if p not in ours})
        if others:
            raise _refuse(
                folder,
                f"it holds other data files that would be loaded with the export "
                f"({', '.join(str(p.relative_to(folder)) for p in others)})",
                "remove them or write to a new folder (exports never delete files)",
            )
    return folder


def write_folder(
    out: Path | str,
    files: Sequence[tuple[str, Writer]],
    *,
    overwrite: bool = False,
    warehouse: Path | None = None,
    keep_out: str | Sequence[str] | None = None,
) -> list[Path]:
    """Write a folder export: each `(relative path, writer)` in order. A new folder is built
    under a temporary name beside it and renamed into place; in an existing folder (only with
    `overwrite`) every file is written to a temporary name first and all are renamed at the
    end. Files other than these are never touched. Returns the resolved paths written."""
    names = [rel for rel, _ in files]
    folder = check_folder_target(out, names, overwrite, warehouse, keep_out)
    if not folder.exists():
        _make_parents(folder)
        staging = folder.parent / f".{folder.name}.{secrets.token_hex(6)}.tmp"
        os.mkdir(staging, 0o777)  # the umask applies, as to any folder the user creates
        try:
            for rel, write in files:
                path = staging / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
                write(path)
            if os.path.lexists(folder):
                raise _refuse(folder, "it appeared while exporting", "export again")
            os.rename(staging, folder)
        finally:
            if os.path.lexists(staging):
                shutil.rmtree(staging)
        return [folder / rel for rel in names]
    staged: list[tuple[Path, Path]] = []
    try:
        for rel, write in files:
            path = folder / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = _temporary(path.parent, path.name)
            staged.append((tmp, path))
            write(tmp)
        for tmp, path in staged:
            _commit_file(tmp, path, overwrite=True)
    finally:
        for tmp, _ in staged:
            if os.path.lexists(tmp):
                os.unlink(tmp)
    return [path for _, path in staged]


__all__ = [
    "ExportError",
    "ExportPathError",
    "check_file_target",
    "check_folder_target",
    "protected_paths",
    "resolved",
    "write_file",
    "write_folder",
]
