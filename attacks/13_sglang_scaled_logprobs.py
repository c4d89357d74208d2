"""Attack (by reading, no SGLang server here): the SGLang dialect records temperature-scaled logprobs.

SGLang's sampler reports `log_softmax(logits / temperature)` for `return_logprob`; the raw
(pre-temperature) ones only when the server runs with SGLANG_RETURN_ORIGINAL_LOGPROB=1 (its own
test, test_original_logprob.py, checks both; miles/slime document "post-temperature unless the
server sets SGLANG_RETURN_ORIGINAL_LOGPROB"). agentkit sends the run's temperature in
sampling_params and reads `meta_info.output_token_logprobs` as the raw logprobs the contract
promises: for any temperature != 1 they are off by the scaling, silently. This script shows the
request agentkit sends for a sampled recorded call.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agentkit import Sampling
from agentkit._remote_tokens import request


def main() -> None:
    url, body = request("sglang", "http://127.0.0.1:30000/v1", "m", [1, 2, 3], Sampling(temperature=0.7), {})
    print(f"  {url} {body}")
    asks_raw = any(k in body for k in ("return_original_logprob",)) or "temperature" not in body["sampling_params"]
    if not asks_raw:
        print(
            "FOUND: SGLang gets temperature=0.7 and agentkit records its output_token_logprobs as raw logprobs; "
            "SGLang reports log_softmax(logits/0.7) unless SGLANG_RETURN_ORIGINAL_LOGPROB is set on the server "
            "(nothing checks or documents that)"
        )
    else:
        print("OK")


main()
