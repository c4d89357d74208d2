"""Video input: which frames are sampled, decoding them (PyAV), what a local model's processor is
handed, the clear error where transformers' video processors cannot run (no torchvision), and
the remote ``video_url`` path."""

import base64

import pytest

from agentkit import RemoteModel, UserError
from agentkit._video import VideoFrames, read_video, sample_indices, torchvision_error
from tests.scripted_server import Reply, ScriptedServer, completion

COLORS = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (0, 255, 255),
          (255, 0, 255), (255, 255, 255), (0, 0, 0), (128, 0, 0), (0, 128, 0)]  # fmt: skip


@pytest.mark.parametrize(
    ("total", "source_fps", "kw", "expected"),
    [
        (10, 5.0, {"num_frames": 4}, [0, 2, 5, 7]),
        (10, 5.0, {"num_frames": 1}, [0]),
        (10, 5.0, {"num_frames": 10}, list(range(10))),
        (10, 5.0, {"num_frames": 50}, list(range(10))),  # never more than there are
        (10, 5.0, {"fps": 1.0}, [0, 5]),  # 2 s of video at 1 frame a second
        (10, 5.0, {"fps": 0.01}, [0]),  # at least one
        (10, 0.0, {"fps": 1.0}, list(range(10))),  # no frame rate known: every frame
        (10, 5.0, {}, list(range(10))),
        (0, 5.0, {"num_frames": 3}, []),
        (7, 30.0, {"num_frames": 3, "fps": 100.0}, [0, 2, 4]),  # num_frames wins
    ],
)
def test_sample_indices(total, source_fps, kw, expected):
    assert sample_indices(total, source_fps, **kw) == expected


def test_sample_indices_refuses_no_frames():
    with pytest.raises(UserError, match="at least 1"):
        sample_indices(10, 5.0, num_frames=0)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """A real 2-second MP4 (10 frames at 5 fps, 32x32), each frame one solid colour."""
    av = pytest.importorskip("av")
    np = pytest.importorskip("numpy")
    path = tmp_path_factory.mktemp("video") / "clip.mp4"
    with av.open(str(path), mode="w") as out:
        stream = out.add_stream("mpeg4", rate=5)
        stream.width = stream.height = 32
        stream.pix_fmt = "yuv420p"
        stream.options = {"qscale": "1"}
        for color in COLORS:
            frame = av.VideoFrame.from_ndarray(np.full((32, 32, 3), color, dtype=np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def _nearest(pixel):
    return min(range(len(COLORS)), key=lambda i: sum((int(a) - b) ** 2 for a, b in zip(pixel, COLORS[i], strict=True)))


def test_read_video_decodes_the_sampled_frames(clip):
    video = read_video(clip, num_frames=4)
    assert video.frames.shape == (4, 32, 32, 3) and str(video.frames.dtype) == "uint8"
    assert video.indices == [0, 2, 5, 7] and video.total_frames == 10 and video.fps == 5.0
    assert [_nearest(f[16, 16]) for f in video.frames] == [0, 2, 5, 7]  # the frames asked for, in order
    assert video.metadata == {"total_num_frames": 10, "fps": 5.0, "duration": 2.0, "frames_indices": [0, 2, 5, 7]}
    assert read_video(clip, fps=1.0).indices == [0, 5]
    assert read_video(clip).frames.shape[0] == 10


def test_read_video_of_a_missing_or_broken_file(tmp_path):
    with pytest.raises(UserError, match="no video file"):
        read_video(tmp_path / "nothing.mp4")
    pytest.importorskip("av")
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    with pytest.raises(Exception):  # noqa: B017 - PyAV's own error: the file is not a video
        read_video(broken)


# --- what a local model's processor gets ------------------------------------------------------------


class ProcessorStandIn:
    """Stands in for a transformers processor with a video processor (which needs torchvision, not
    available here): it records what LocalModel hands it and renders the text with the real
    tokenizer. It checks LocalModel's side of the boundary only."""

    def __init__(self, tokenizer, **video_settings):
        self.tokenizer = tokenizer
        self.chat_template = tokenizer.chat_template
        self.video_processor = type("VideoProcessor", (), video_settings)()
        self.calls = []

    def apply_chat_template(self, conversation, *, processor_kwargs=None, **kwargs):
        self.calls.append((conversation, processor_kwargs))
        text_only = [{**m, "content": "".join(p.get("text", "") for p in m["content"])}
                     if isinstance(m.get("content"), list) else m for m in conversation]  # fmt: skip
        return self.tokenizer.apply_chat_template(text_only, **kwargs)


@pytest.fixture(scope="module")
def tiny_qwen(tmp_path_factory):
    pytest.importorskip("torch")
    from tools.build_test_models import build_tiny

    return build_tiny("qwen3", tmp_path_factory.mktemp("models") / "qwen3")


def test_local_video_parts_reach_the_processor_as_sampled_frames(tiny_qwen, clip):
    import transformers

    from agentkit import LocalModel

    tokenizer = transformers.AutoTokenizer.from_pretrained(tiny_qwen)
    model = transformers.AutoModelForCausalLM.from_pretrained(tiny_qwen)
    processor = ProcessorStandIn(tokenizer, do_sample_frames=True, num_frames=4, fps=None)
    local = LocalModel.from_objects(model, processor)
    content = [{"type": "video", "path": str(clip)}, {"type": "video_url", "video_url": {"url": f"file://{clip}"}},
               {"type": "video", "url": "https://example.com/v.mp4"}, {"type": "text", "text": "What happens?"}]  # fmt: skip
    local._render([{"role": "user", "content": content}], None, False, None)
    ((conversation, kwargs),) = processor.calls
    parts = conversation[0]["content"]
    assert [p["video"].shape for p in parts[:2]] == [(4, 32, 32, 3), (4, 32, 32, 3)]
    assert parts[2] == {"type": "video", "url": "https://example.com/v.mp4"}  # a URL: the processor fetches it
    assert kwargs["do_sample_frames"] is False  # sampled already
    assert [m["frames_indices"] for m in kwargs["video_metadata"]] == [[0, 2, 5, 7], [0, 2, 5, 7]]
    processor.video_processor.do_sample_frames = False  # the processor takes every frame
    local._render([{"role": "user", "content": content[:1]}], None, False, None)
    assert processor.calls[-1][1]["video_metadata"][0]["frames_indices"] == list(range(10))


def test_without_torchvision_the_error_says_so(tiny_qwen):
    import transformers

    from agentkit import LocalModel

    tokenizer = transformers.AutoTokenizer.from_pretrained(tiny_qwen)
    processor = ProcessorStandIn(tokenizer)
    processor.video_processor = None  # what a processor without a working torchvision has
    local = LocalModel.from_objects(transformers.AutoModelForCausalLM.from_pretrained(tiny_qwen), processor)
    with pytest.raises(UserError) as raised:
        local._render([{"role": "user", "content": [{"type": "video", "path": "clip.mp4"}]}], None, False, None)
    broken = torchvision_error()
    if broken is None:
        assert "takes no video" in str(raised.value)
    else:
        assert "torchvision" in str(raised.value) and broken in str(raised.value)


# --- the remote path ------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_remote_video_parts_become_video_url_parts(tmp_path):
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"\x00\x00\x00\x18ftypmp42 not really a video")
    content = [{"type": "video", "path": str(path)}, {"type": "video", "url": "http://x/v.mp4"},
               {"type": "video_url", "video_url": {"url": "http://y/w.mp4"}}, {"type": "text", "text": "?"}]  # fmt: skip
    with ScriptedServer() as srv:
        srv.script(Reply(body=completion("ok")))
        await RemoteModel(srv.url, server="vllm", model="m").complete([{"role": "user", "content": content}])
    parts = srv.requests[0]["messages"][0]["content"]
    data_url = parts[0]["video_url"]["url"]
    assert data_url.startswith("data:video/mp4;base64,")
    assert base64.b64decode(data_url.split(",", 1)[1]) == path.read_bytes()
    assert parts[1:] == [{"type": "video_url", "video_url": {"url": "http://x/v.mp4"}},
                         {"type": "video_url", "video_url": {"url": "http://y/w.mp4"}}, {"type": "text", "text": "?"}]  # fmt: skip
    with pytest.raises(UserError, match="needs a 'url' or a 'path'"):
        await RemoteModel("http://127.0.0.1:9/v1", server="vllm", model="m").complete(
            [{"role": "user", "content": [{"type": "video"}]}]
        )


def test_video_frames_metadata_without_a_frame_rate():
    assert VideoFrames(frames=None, fps=0.0, total_frames=3).metadata["duration"] is None
