"""Media for a local model's processor: content parts as processors take them (`processor_part`),
and a video's frames — which frames (`sample_indices`), decoded with decord or PyAV
(`read_video`) — so that a processor gets frames, not a file it must decode.

transformers' video processors still need torchvision for their transforms; `torchvision_error`
says why one cannot run where torchvision is missing or broken (PyPI's CUDA build next to a CPU
torch fails with ``operator torchvision::nms does not exist``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .exceptions import UserError

VIDEO_EXTRA = "pip install 'agentkit[video]' (PyAV or decord)"


@dataclass(kw_only=True)
class VideoFrames:
    """Frames sampled from one video."""

    frames: Any
    """A uint8 array of shape (frames, height, width, 3), RGB."""
    indices: list[int] = field(default_factory=list)
    """Which frames of the video these are."""
    fps: float
    """The video's own frame rate."""
    total_frames: int
    """How many frames the video has."""

    @property
    def metadata(self) -> dict[str, Any]:
        """The metadata transformers' video processors take (``video_metadata``)."""
        return {
            "total_num_frames": self.total_frames, "fps": self.fps,
            "duration": self.total_frames / self.fps if self.fps else None, "frames_indices": self.indices,
        }  # fmt: skip


def sample_indices(
    total: int, source_fps: float, *, num_frames: int | None = None, fps: float | None = None
) -> list[int]:
    """Evenly spaced frame indices, as transformers samples: `num_frames` of them, or `fps` per
    second of video (at least one); every frame when neither is given or more are asked for
    than there are."""
    if total <= 0:
        return []
    if num_frames is None and fps is not None and source_fps > 0:
        num_frames = max(1, int(total / source_fps * fps))
    if num_frames is None or num_frames >= total:
        return list(range(total))
    if num_frames < 1:
        raise UserError(f"num_frames must be at least 1, not {num_frames}")
    step = total / num_frames
    return [min(total - 1, math.floor(i * step)) for i in range(num_frames)]


def read_video(path: str | Path, *, num_frames: int | None = None, fps: float | None = None) -> VideoFrames:
    """The sampled frames of a local video file, decoded with decord if it is installed, else PyAV."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"no video file at {path}")
    try:
        return _read_decord(path, num_frames, fps)
    except ImportError:
        pass
    try:
        return _read_av(path, num_frames, fps)
    except ImportError as e:
        raise UserError(f"reading video needs a video decoder: {VIDEO_EXTRA} ({e})") from e


def _read_decord(path: Path, num_frames: int | None, fps: float | None) -> VideoFrames:
    import decord

    reader = decord.VideoReader(str(path), ctx=decord.cpu(0))
    total, source_fps = len(reader), float(reader.get_avg_fps())
    indices = sample_indices(total, source_fps, num_frames=num_frames, fps=fps)
    return VideoFrames(frames=reader.get_batch(indices).asnumpy(), indices=indices, fps=source_fps, total_frames=total)


def _read_av(path: Path, num_frames: int | None, fps: float | None) -> VideoFrames:
    import av
    import numpy as np

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate
        source_fps = float(rate) if rate else 0.0
        # The header's frame count may be missing: count the packets (no decoding) when it is.
        total = stream.frames or sum(1 for packet in container.demux(stream) if packet.size)
    indices = sample_indices(total, source_fps, num_frames=num_frames, fps=fps)
    wanted, frames = set(indices), []
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):  # only the sampled frames are kept
            if i in wanted:
                frames.append(frame.to_ndarray(format="rgb24"))
    if not frames:
        raise UserError(f"the video {path} has no frames")
    indices = indices[: len(frames)]  # a header that promised more frames than there are
    return VideoFrames(frames=np.stack(frames), indices=indices, fps=source_fps, total_frames=total)


def torchvision_error() -> str | None:
    """Why torchvision cannot be used here, or None when it imports."""
    try:
        import torchvision  # noqa: F401
    except Exception as e:  # a broken build raises RuntimeError, not ImportError
        return f"{type(e).__name__}: {e}"
    return None


def processor_part(part: dict[str, Any]) -> dict[str, Any]:
    """A content part as transformers processors take it."""
    kind = part.get("type")
    if kind == "text":
        return {"type": "text", "text": part.get("text", "")}
    if kind == "image_url":
        return {"type": "image", "url": part["image_url"]["url"]}
    if kind == "video_url":
        return {"type": "video", "url": part["video_url"]["url"]}
    if kind in ("image", "video"):
        return dict(part)
    raise UserError(f"unsupported content part type {kind!r}")


def local_video_path(part: dict[str, Any]) -> str | None:
    """The local file a video part names (``path``, a ``file://`` URL or a bare path), or None."""
    if part.get("type") != "video" or "video" in part:
        return None
    if part.get("path") is not None:
        return str(part["path"])
    url = part.get("url")
    if isinstance(url, str) and "://" not in url and not url.startswith("data:"):
        return url
    if isinstance(url, str) and url.startswith("file://"):
        return url[len("file://") :]
    return None


def decode_videos(model_processor: Any, messages: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Video parts that name a local file, decoded here (decord or PyAV) at the video
    processor's own sampling, so that the processor gets frames and their metadata; other
    video parts (URLs, frames) are left to the processor."""
    processor = getattr(model_processor, "video_processor", None)
    if processor is None:
        broken = torchvision_error()
        if broken is not None:  # transformers' video processors are built on torchvision
            raise UserError(
                "this model's processor cannot read video here: transformers' video processors need "
                f"torchvision, which does not import ({broken}); install the torchvision build that "
                "matches your torch"
            )
        raise UserError("this model's processor takes no video")
    sampling = getattr(processor, "do_sample_frames", False)
    num_frames = getattr(processor, "num_frames", None) if sampling else None
    fps = getattr(processor, "fps", None) if sampling else None
    metadata: list[dict[str, Any]] = []
    out = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, list):
            parts = []
            for part in content:
                path = local_video_path(part)
                if path is not None:
                    video = read_video(path, num_frames=num_frames, fps=fps)
                    metadata.append(video.metadata)
                    part = {"type": "video", "video": video.frames}
                parts.append(part)
            message = {**message, "content": parts}
        out.append(message)
    # Already sampled: the processor must not sample the frames again.
    return out, ({"video_metadata": metadata, "do_sample_frames": False} if metadata else {})
