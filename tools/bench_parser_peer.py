"""lmdeploy's Intern-S1 response parser on the parser benchmark's texts (run in .bench-venv).

    .bench-venv/bin/python tools/bench_parser_peer.py SIZE[,SIZE...] REPS

lmdeploy (installed with --no-deps; its parsers are plain Python) parses a complete response
through its streaming state machine, as agentkit does: `parse_complete` is the batch time,
`stream_chunk` per delta the streamed one. Prints one JSON line.
"""

import json
import random
import statistics
import sys
import time

sys.path.insert(0, __file__.rsplit("/tools/", 1)[0])

from lmdeploy.serve.openai.protocol import ChatCompletionRequest
from lmdeploy.serve.parsers.response_parser import BaseResponseParser

from tools.bench import chunkings, intern_s1_text

TOOLS = [{"type": "function", "function": {"name": "get_temperature_date", "parameters": {"type": "object"}}}]


def parser() -> BaseResponseParser:
    request = ChatCompletionRequest(model="m", messages=[{"role": "user", "content": "x"}], tools=TOOLS,
                                    chat_template_kwargs={"enable_thinking": False})
    return BaseResponseParser(request)


def timed(fn, reps: int) -> float:
    out = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return statistics.median(out)


def main() -> None:
    BaseResponseParser.set_parsers("intern-s1", "intern-s1")
    sizes, reps = [int(s) for s in sys.argv[1].split(",")], int(sys.argv[2])
    rng = random.Random(0)
    results = {}
    for size in sizes:
        text = intern_s1_text(size, rng)
        _, calls, _ = parser().parse_complete(text)
        row = {"batch": timed(lambda: parser().parse_complete(text), reps), "calls": len(calls or [])}
        for label, chunks in chunkings(text, size, random.Random(1)):
            if chunks is None:
                continue

            def run(chunks=chunks) -> None:
                p = parser()
                for c in chunks:
                    p.stream_chunk(c, [])
                p.stream_chunk("", [], final=True)

            row[label] = timed(run, reps)
        results[size] = row
    print(json.dumps(results))


main()
